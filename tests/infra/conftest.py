"""Fixtures of the infrastructure tests: synthesized stacks and the pinned external tools.

The tests never reach a cloud: they synthesize the cdktf app into Terraform JSON and assert
on it, run checkov on that JSON and run the real `cdktf synth` once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".cache"
INSTALL_SCRIPT = REPO_ROOT / "tools" / "install-infra-tools.sh"
CDKTF_CLI = REPO_ROOT / "tools" / "cdktf-cli" / "node_modules" / ".bin" / "cdktf"
CHECKOV = CACHE / "checkov-venv" / "bin" / "checkov"

# A syntactically valid digest; nothing is pulled.
TEST_IMAGE = "us-central1-docker.pkg.dev/coditect-artifacts/license-api/api@sha256:" + "ab" * 32

# The prebuilt google provider unpacks ~350 MB of jsii assembly on first import; keep it in
# the repository's ignored cache instead of the user's home.
os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(CACHE / "jsii"))
os.environ["CHECKPOINT_DISABLE"] = "1"
os.environ["CKV_SKIP_PACKAGE_UPDATE_CHECK"] = "true"

# Appended, not prepended: cdktf/main.py must not shadow the repository's main.py.
if str(REPO_ROOT / "cdktf") not in sys.path:
    sys.path.append(str(REPO_ROOT / "cdktf"))

IN_CI = os.environ.get("CI") == "true"

try:
    import cdktf  # noqa: F401
    import cdktf_cdktf_provider_google  # noqa: F401
except ImportError as error:
    if IN_CI:
        raise
    _MISSING = f"{error.name} is not installed (pip install -r requirements-dev.txt)"
    collect_ignore_glob = ["test_*.py"]
else:
    _MISSING = ""


def pytest_report_header() -> str | None:
    return f"tests/infra skipped: {_MISSING}" if _MISSING else None


def synthesize(config: Any) -> dict[str, Any]:
    """Synthesize one environment's stack and return its Terraform JSON."""
    from cdktf import Testing

    from license_infra.stack import LicenseApiStack, stack_id

    stack = LicenseApiStack(Testing.app(), stack_id(config), config=config)
    document: dict[str, Any] = json.loads(Testing.synth(stack))
    return document


def environment_configs() -> list[Any]:
    from license_infra.environments import ENVIRONMENT_NAMES, environments

    return environments({name: TEST_IMAGE for name in ENVIRONMENT_NAMES})


@pytest.fixture(scope="module")
def configs() -> dict[str, Any]:
    return {config.name: config for config in environment_configs()}


@pytest.fixture(scope="module")
def stacks(configs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Terraform JSON of every environment, synthesized once per test module."""
    return {name: synthesize(config) for name, config in configs.items()}


def resources(stack: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Return the resources of one type by their logical name (empty if there are none)."""
    found: dict[str, dict[str, Any]] = stack.get("resource", {}).get(resource_type, {})
    return found


def only(stack: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    """Return the single resource of a type, failing if there is not exactly one."""
    found = resources(stack, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def reference(stack: Mapping[str, Any], resource_type: str, attribute: str) -> str:
    """Return the Terraform expression for an attribute of the single resource of a type."""
    (name,) = resources(stack, resource_type)
    return f"${{{resource_type}.{name}.{attribute}}}"


def no_network_prefix() -> list[str]:
    """Return `unshare --net` where available, so a tool run here cannot reach any network."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=30, check=False)
    return [unshare, "--net"] if probe.returncode == 0 else []


def _ensure_tools() -> None:
    if CDKTF_CLI.exists() and CHECKOV.exists():
        return
    if shutil.which("npm") is None:
        message = "npm is not installed; the cdktf CLI test needs Node.js 20+ with npm"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        message = f"{INSTALL_SCRIPT.name} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def infra_tools() -> Iterator[None]:
    """Install the pinned cdktf CLI and checkov (tools/install-infra-tools.sh) if missing."""
    _ensure_tools()
    yield
