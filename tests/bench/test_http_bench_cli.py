"""The benchmark script's command line and profile summary, without running a benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import http_bench
from tests.conftest import REPO_ROOT


def test_help_exits_cleanly() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/http_bench.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--duration" in completed.stdout
    assert "--connections" in completed.stdout


def test_defaults_bound_every_run() -> None:
    args = http_bench.parse_args([])
    assert args.duration == 10
    assert args.connections == 8
    assert args.workers == 1
    assert args.threads == 8
    assert args.scenarios == list(http_bench.SCENARIOS)


def test_scenarios_are_parsed() -> None:
    args = http_bench.parse_args(["--scenarios", "heartbeat, release"])
    assert args.scenarios == ["heartbeat", "release"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--duration", "0"],
        ["--connections", "0"],
        ["--scenarios", "acquire,heartbeat"],
        ["--bodies", "4", "--connections", "8"],
        ["--wrk-threads", "4", "--connections", "2"],
    ],
)
def test_invalid_arguments_are_rejected(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        http_bench.parse_args(argv)
    assert exit_info.value.code == 2


def test_profile_summary_charges_innermost_component(tmp_path: Path) -> None:
    store = "/repo/functions/store/sqlite.py"
    request = (
        "process 1:worker;ThreadWorker.handle_request (/site/gunicorn/workers/gthread.py:1);"
        "handle (/repo/functions/http.py:2)"
    )
    profile = tmp_path / "profile.txt"
    profile.write_text(
        f"{request};SqliteSeatStore.run_transaction ({store}:3) 6\n"
        f"{request};SqliteSeatStore._run_attempts ({store}:4) 2\n"
        f"{request};LocalSigner.sign (/repo/functions/signing/local.py:5) 1\n"
        f"{request};dumps (/lib/json/__init__.py:6) 1\n"
        "process 1:worker;_worker (/lib/concurrent/futures/thread.py:7) 90\n"
    )

    summary = http_bench.summarize_profile(profile, "wall")

    shares = dict(summary.components)
    assert summary.samples == 10
    assert shares[http_bench.STORE_WAITS["SqliteSeatStore.run_transaction"]] == 60.0
    assert shares[http_bench.STORE_WAITS["SqliteSeatStore._run_attempts"]] == 20.0
    assert shares["ECDSA signing (cryptography)"] == 10.0
    assert shares["API handling (http.py, service.py)"] == 10.0


def test_profile_summary_gil_mode_keeps_all_samples(tmp_path: Path) -> None:
    profile = tmp_path / "profile.txt"
    profile.write_text("process 1:worker;_worker (/lib/concurrent/futures/thread.py:7) 4\n")

    summary = http_bench.summarize_profile(profile, "gil")

    assert summary.samples == 4
    assert summary.components == [("thread pool and poller", 100.0)]
