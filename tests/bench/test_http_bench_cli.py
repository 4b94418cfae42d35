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
    # Frames as py-spy writes them: file names relative to their sys.path entry.
    store = "functions/store/sqlite.py"
    request = (
        "process 1:worker;Thread.run (threading.py:1);"
        "ThreadWorker.handle_request (gunicorn/workers/gthread.py:2);"
        "handle (functions/http.py:3)"
    )
    profile = tmp_path / "profile.txt"
    profile.write_text(
        f"{request};SqliteSeatStore.run_transaction ({store}:4) 5\n"
        f"{request};SqliteSeatStore._run_attempts ({store}:5) 2\n"
        f"{request};LocalSigner.sign (functions/signing/local.py:6) 1\n"
        f"{request};dumps (json/__init__.py:7) 1\n"
        f"{request};model_validate (pydantic/main.py:8) 1\n"
        "process 1:worker;Thread.run (threading.py:1);"
        "ThreadWorker.handle_request (gunicorn/workers/gthread.py:2);"
        "Response.write (gunicorn/http/wsgi.py:9) 2\n"
        "process 1:worker;Thread.run (threading.py:1);"
        "_worker (concurrent/futures/thread.py:10) 90\n"
    )

    summary = http_bench.summarize_profile(profile, "wall")

    shares = dict(summary.components)
    assert summary.samples == 12
    assert round(shares[http_bench.STORE_WAITS["SqliteSeatStore.run_transaction"]], 1) == 41.7
    assert round(shares[http_bench.STORE_WAITS["SqliteSeatStore._run_attempts"]], 1) == 16.7
    assert round(shares["ECDSA signing (cryptography)"], 1) == 8.3
    assert round(shares["API handling (http.py, service.py)"], 1) == 8.3
    assert round(shares["request validation (pydantic)"], 1) == 8.3
    assert round(shares["gunicorn (HTTP parsing, socket I/O)"], 1) == 16.7


def test_profile_summary_gil_mode_keeps_all_samples(tmp_path: Path) -> None:
    profile = tmp_path / "profile.txt"
    profile.write_text("process 1:worker;_worker (concurrent/futures/thread.py:7) 4\n")

    summary = http_bench.summarize_profile(profile, "gil")

    assert summary.samples == 4
    assert summary.components == [("thread pool and poller", 100.0)]
