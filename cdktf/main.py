"""Synthesize the license API stacks (licenses-dev, licenses-staging, licenses-prod).

`cdktf synth` runs this file from the repository root (see cdktf.json). The image every stack
deploys comes from LICENSE_API_IMAGE or LICENSE_API_IMAGE_<ENV>, pinned by digest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The script's folder (cdktf/) is already on sys.path for `license_infra`; the repository
# root provides the application package `functions`, whose names the stack uses.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from cdktf import App

from license_infra.config import ConfigError
from license_infra.environments import environments, images_from_environment
from license_infra.stack import build_stacks


def main() -> int:
    try:
        configs = environments(images_from_environment(os.environ))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app = App()
    build_stacks(app, configs)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
