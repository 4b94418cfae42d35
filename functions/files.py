"""Owner-only files in the data folder: the local signing key and local server secrets."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

_OWNER_ONLY = 0o600
# The data folder contains the store (emails, hardware ids) as well as keys.
OWNER_ONLY_FOLDER = 0o700


def read_or_create_private_file(path: Path, create: Callable[[], bytes]) -> bytes:
    """Return the contents of `path`, creating it first with owner-only permissions.

    Creation uses O_EXCL, so when two processes start at once exactly one writes the file and
    the other reads what the first wrote.
    """
    path.parent.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _OWNER_ONLY)
    except FileExistsError:
        return _read_complete(path)
    content = create()
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return content


def _read_complete(path: Path) -> bytes:
    # A file created a moment ago by another process may still be empty; wait briefly for it.
    for _ in range(50):
        content = path.read_bytes()
        if content:
            return content
        time.sleep(0.02)
    raise RuntimeError(f"{path} exists but is empty; delete it so that it is created again.")
