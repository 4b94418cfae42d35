"""The real `cdktf synth` CLI on cdktf.json, as ops run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import CDKTF_CLI, REPO_ROOT, TEST_IMAGE, no_network_prefix

STACKS = ("licenses-dev", "licenses-prod", "licenses-staging")


def test_cdktf_synth_writes_three_stacks(infra_tools: None, tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",
        "LICENSE_API_IMAGE": TEST_IMAGE,
        "CI": "true",  # no spinner, no prompts
    }
    result = subprocess.run(
        [*no_network_prefix(), str(CDKTF_CLI), "synth", "--output", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"cdktf synth failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["stacks"]) == list(STACKS)
    for stack in STACKS:
        document = json.loads((out / "stacks" / stack / "cdk.tf.json").read_text("utf-8"))
        assert document["terraform"]["backend"]["gcs"]["prefix"] == (
            f"license-api/{stack.removeprefix('licenses-')}"
        )
        services = document["resource"]["google_cloud_run_v2_service"].values()
        assert {body["template"]["containers"][0]["image"] for body in services} == {TEST_IMAGE}


def test_app_without_image_fails(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LICENSE_API_")}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "cdktf" / "main.py")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**env, "CDKTF_OUTDIR": str(tmp_path)},
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "LICENSE_API_IMAGE" in result.stderr
    assert not (tmp_path / "manifest.json").exists()


def test_cdktf_folder_does_not_shadow_package() -> None:
    import cdktf

    assert not (REPO_ROOT / "cdktf" / "__init__.py").exists()
    assert cdktf.__file__ is not None
    assert Path(cdktf.__file__).resolve().parent != (REPO_ROOT / "cdktf").resolve()
