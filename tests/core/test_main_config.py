"""`python main.py` rejects bad configuration with one line, before it serves anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORT", "abc", "PORT='abc' is not a TCP port"),
        ("PORT", "70000", "PORT='70000' is not a TCP port"),
        ("LICENSE_STORE", "sqlite", "LICENSE_STORE='sqlite' is not valid"),
        ("LICENSE_SIGNER", "hsm", "LICENSE_SIGNER='hsm' is not valid"),
        ("LICENSE_SEAT_PRESSURE_THRESHOLD", "abc", "LICENSE_SEAT_PRESSURE_THRESHOLD='abc'"),
        ("LICENSE_SEAT_PRESSURE_THRESHOLD", "NaN", "LICENSE_SEAT_PRESSURE_THRESHOLD='NaN'"),
    ],
)
def test_bad_setting_exits(data_dir: Path, variable: str, value: str, expected: str) -> None:
    env = {**os.environ, "LICENSE_DATA_DIR": str(data_dir), "PORT": "18999", variable: value}

    result = subprocess.run(
        [sys.executable, "main.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_data_folder_is_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    env = {**os.environ, "LICENSE_DATA_DIR": str(not_a_folder), "PORT": "18999"}

    result = subprocess.run(
        [sys.executable, "main.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert f"cannot open the data folder {not_a_folder}" in result.stderr
    assert "Traceback" not in result.stderr
