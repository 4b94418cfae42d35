"""checkov on the synthesized Terraform JSON of every environment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.infra.conftest import CHECKOV, REPO_ROOT, no_network_prefix

SKIPS_FILE = REPO_ROOT / "cdktf" / "checkov_skips.json"


def run_checkov(folder: Path, skipped: list[str]) -> dict[str, Any]:
    env = {
        **os.environ,
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        # No download of policy metadata from the vendor's platform.
        "BC_SKIP_MAPPING": "TRUE",
    }
    command = [
        *no_network_prefix(),
        str(CHECKOV),
        "--directory",
        str(folder),
        "--framework",
        "terraform_json",
        "--skip-download",
        "--output",
        "json",
        "--skip-check",
        ",".join(skipped),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert result.returncode in (0, 1), f"checkov failed to run:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "expected one report for one framework"
    return report


def test_skip_list_gives_reasons() -> None:
    skips = json.loads(SKIPS_FILE.read_text(encoding="utf-8"))
    for check_id, reason in skips.items():
        assert check_id.startswith("CKV")
        assert len(reason.split()) >= 5, f"{check_id} needs a reason"


def test_checkov_passes_all_stacks(
    infra_tools: None, stacks: dict[str, Any], tmp_path: Path
) -> None:
    for name, stack in stacks.items():
        (tmp_path / f"{name}.tf.json").write_text(json.dumps(stack), encoding="utf-8")
    skips = json.loads(SKIPS_FILE.read_text(encoding="utf-8"))

    report = run_checkov(tmp_path, sorted(skips))

    results = report["results"]
    failed = [
        f"{item['check_id']} {item['resource']} ({item['file_path']})"
        for item in results["failed_checks"]
    ]
    assert failed == [], "checkov failed checks:\n" + "\n".join(failed)
    assert results["parsing_errors"] == []
    checked_files = {Path(item["file_path"]).name for item in results["passed_checks"]}
    assert checked_files == {f"{name}.tf.json" for name in stacks}
    passed_ids = {item["check_id"] for item in results["passed_checks"]}
    assert "CKV_GCP_82" in passed_ids  # KMS key protected from deletion
    assert not passed_ids & set(skips)
