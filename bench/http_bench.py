"""HTTP benchmark of the license API against a bare functions-framework endpoint.

Both run under functions-framework's gunicorn server (the gthread worker, which is what
`functions-framework --target=...` starts on Cloud Run) with the same WORKERS and THREADS,
on 127.0.0.1 and free ports. The license API gets its own temporary data folder with the
embedded SQLite store, and licenses and leases created through `functions.admin.Admin` and
the seat logic before the servers start. wrk drives each endpoint for a fixed time with a
fixed number of connections, and the pairs (API, bare) run back to back, in alternating
order per round, so that load from other processes hits both alike.

Scenarios:
  acquire-new    acquire with a new hardware_id per request on one license with enough
                 seats, so every request inserts a lease
  acquire-renew  acquire again with a seat identity that already holds a live lease
  heartbeat      heartbeats on pre-created leases, cycling through them
  release        release of distinct pre-created leases (after the supply of leases runs
                 out, releases repeat and are idempotent; the table says if that happened)

Usage: python bench/http_bench.py [--duration 10] [--connections 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from functions import seats  # noqa: E402
from functions.admin import Admin, SeatTerms  # noqa: E402
from functions.clock import SystemClock  # noqa: E402
from functions.identity import KeyHasher, generate_id  # noqa: E402
from functions.secrets import KEY_HASH_SECRET, LocalSecrets  # noqa: E402
from functions.store import SeatTransaction  # noqa: E402
from functions.store.sqlite import SqliteSeatStore  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH_DIR / "post_bodies.lua"
BARE_SOURCE = BENCH_DIR / "bare_endpoint.py"
API_SOURCE = REPO_ROOT / "main.py"

# Nothing started here may call out of this machine.
QUIET_ENV = {
    "CHECKPOINT_DISABLE": "1",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
}

ACQUIRE_PATH = "/api/v1/licenses/acquire"
HEARTBEAT_PATH = "/api/v1/licenses/heartbeat"
RELEASE_PATH = "/api/v1/licenses/release"

BENCH_EMAIL = "bench.user@example.com"
# Long enough that no pre-created lease expires during a run of many rounds.
BENCH_TERMS_INTERVAL_SECONDS = 60
BENCH_TERMS_LIFETIME_SECONDS = 4 * 3600
# Leases per license for the release supply; keeps each license's open-lease count moderate.
RELEASE_LEASES_PER_LICENSE = 1000
# Seat identities per transaction while pre-creating leases.
SETUP_BATCH = 500
SERVER_START_TIMEOUT_SECONDS = 60

# Throughput targets as a fraction of the bare endpoint, and the latency bound.
THROUGHPUT_TARGETS = {"acquire-new": 0.50, "acquire-renew": 0.50, "heartbeat": 0.70}
P99_LIMIT_RATIO = 2.0

SCENARIOS = ("acquire-new", "acquire-renew", "heartbeat", "release")
SCENARIO_PATHS = {
    "acquire-new": ACQUIRE_PATH,
    "acquire-renew": ACQUIRE_PATH,
    "heartbeat": HEARTBEAT_PATH,
    "release": RELEASE_PATH,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark the license API against a bare functions-framework endpoint under the "
            "same gunicorn settings, with wrk, and print throughput and latency ratios."
        )
    )
    parser.add_argument(
        "--duration", type=int, default=10, help="Seconds of load per run (default: 10)."
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=8,
        help="Open HTTP connections wrk keeps per run (default: 8).",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default: 1).")
    parser.add_argument(
        "--timeout",
        type=int,
        default=5,
        help="Seconds after which wrk counts a request as timed out (default: 5).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Rounds of every scenario; each round runs the API and the bare endpoint back "
        "to back (default: 3).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gunicorn worker processes per server, set as WORKERS (default: 1).",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="Threads per gunicorn worker, set as THREADS (default: 8).",
    )
    parser.add_argument(
        "--bodies",
        type=int,
        default=30000,
        help="Distinct request bodies per round for acquire-new and release, which is also "
        "the number of leases pre-created per round for release (default: 30000).",
    )
    parser.add_argument(
        "--held-leases",
        type=int,
        default=1000,
        help="Pre-created leases that heartbeat and acquire-renew cycle through (default: 1000).",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"Comma-separated scenarios to run (default: {','.join(SCENARIOS)}).",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy executable; when set, one extra API run per scenario is profiled and "
        "the hottest frames are printed. Profiled runs are not part of the table.",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="Folder for the py-spy profiles in collapsed-stack format (default: inside the "
        "temporary data folder).",
    )
    parser.add_argument("--json", type=Path, help="Also write all results to this JSON file.")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="Keep the temporary folder with the data, bodies and server logs.",
    )

    args = parser.parse_args(argv)
    for name in ("duration", "connections", "wrk_threads", "rounds", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")
    if args.bodies < args.connections or args.held_leases < args.connections:
        parser.error("--bodies and --held-leases must be at least --connections.")
    if args.wrk_threads > args.connections:
        parser.error("--wrk-threads must not exceed --connections.")
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown or not chosen:
        parser.error(f"Unknown scenario {unknown}; choose from {', '.join(SCENARIOS)}.")
    args.scenarios = chosen
    return args


# Data setup.


@dataclasses.dataclass
class BenchData:
    """Files of request bodies, one JSON body per line, per scenario and round."""

    bodies: dict[tuple[str, int], Path]
    # One license per round for acquire-new, so every round starts with no open leases.
    acquire_license_ids: list[str]


def _write_lines(path: Path, bodies: Iterator[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for body in bodies:
            handle.write(json.dumps(body, separators=(",", ":")) + "\n")
    return path


def _terms(seat_count: int) -> SeatTerms:
    return SeatTerms(
        seats=seat_count,
        heartbeat_interval_seconds=BENCH_TERMS_INTERVAL_SECONDS,
        lease_lifetime_seconds=BENCH_TERMS_LIFETIME_SECONDS,
    )


def _acquire_leases(
    store: SqliteSeatStore, hasher: KeyHasher, key: str, hardware_ids: Sequence[str]
) -> list[str]:
    """Acquire one lease per hardware id through the seat logic; return the lease ids."""
    key_hash = hasher.license_key_hash(key)
    lease_ids: list[str] = []
    for start in range(0, len(hardware_ids), SETUP_BATCH):
        batch = hardware_ids[start : start + SETUP_BATCH]
        now = SystemClock().now()

        def work(
            tx: SeatTransaction, batch: Sequence[str] = batch, now: datetime = now
        ) -> list[str]:
            granted = []
            for hardware_id in batch:
                outcome = seats.acquire(
                    tx, hasher, now, key_hash, hardware_id, BENCH_EMAIL, generate_id("denial")
                )
                if not isinstance(outcome, seats.Granted):
                    raise RuntimeError(f"Setup acquire failed: {outcome.error.detail}")
                granted.append(outcome.lease.id)
            return granted

        lease_ids.extend(store.run_transaction(work))
    return lease_ids


def prepare_data(data_dir: Path, body_dir: Path, args: argparse.Namespace) -> BenchData:
    """Create the licenses and leases the scenarios need, and their request bodies."""
    store = SqliteSeatStore(data_dir)
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    admin = Admin(store, hasher, SystemClock())
    admin.create_product("bench", "Benchmark product")
    bodies: dict[tuple[str, int], Path] = {}
    rounds = args.rounds + (len(PROFILE_MODES) if args.py_spy else 0)

    renew = admin.create_license("bench", "bench-renew", _terms(args.held_leases))
    renew_ids = [f"renew-hw-{index}" for index in range(args.held_leases)]
    _acquire_leases(store, hasher, renew.key, renew_ids)
    heartbeat = admin.create_license("bench", "bench-heartbeat", _terms(args.held_leases))
    heartbeat_ids = [f"heartbeat-hw-{index}" for index in range(args.held_leases)]
    heartbeat_leases = _acquire_leases(store, hasher, heartbeat.key, heartbeat_ids)

    acquire_license_ids: list[str] = []
    for round_index in range(rounds):
        acquire = admin.create_license("bench", f"bench-acquire-{round_index}", _terms(args.bodies))
        acquire_license_ids.append(acquire.license.id)
        bodies["acquire-new", round_index] = _write_lines(
            body_dir / f"acquire-new-{round_index}.jsonl",
            (
                {
                    "license_key": acquire.key,
                    "hardware_id": f"new-hw-{round_index}-{index}",
                    "user_email": BENCH_EMAIL,
                }
                for index in range(args.bodies)
            ),
        )
        bodies["acquire-renew", round_index] = _write_lines(
            body_dir / f"acquire-renew-{round_index}.jsonl",
            (
                {"license_key": renew.key, "hardware_id": hardware_id, "user_email": BENCH_EMAIL}
                for hardware_id in renew_ids
            ),
        )
        bodies["heartbeat", round_index] = _write_lines(
            body_dir / f"heartbeat-{round_index}.jsonl",
            (
                {"lease_id": lease_id, "license_key": heartbeat.key, "hardware_id": hardware_id}
                for lease_id, hardware_id in zip(heartbeat_leases, heartbeat_ids, strict=True)
            ),
        )
        if "release" in args.scenarios:
            bodies["release", round_index] = _prepare_release(
                admin, store, hasher, body_dir, round_index, args.bodies
            )
    store.close()
    return BenchData(bodies, acquire_license_ids)


def _prepare_release(
    admin: Admin,
    store: SqliteSeatStore,
    hasher: KeyHasher,
    body_dir: Path,
    round_index: int,
    count: int,
) -> Path:
    lines: list[dict[str, str]] = []
    for start in range(0, count, RELEASE_LEASES_PER_LICENSE):
        size = min(RELEASE_LEASES_PER_LICENSE, count - start)
        created = admin.create_license(
            "bench", f"bench-release-{round_index}-{start}", _terms(size)
        )
        hardware_ids = [f"release-hw-{round_index}-{start + index}" for index in range(size)]
        lease_ids = _acquire_leases(store, hasher, created.key, hardware_ids)
        lines.extend(
            {"lease_id": lease_id, "license_key": created.key, "hardware_id": hardware_id}
            for lease_id, hardware_id in zip(lease_ids, hardware_ids, strict=True)
        )
    return _write_lines(body_dir / f"release-{round_index}.jsonl", iter(lines))


# Servers.


@dataclasses.dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    name: str, source: Path, target: str, env: dict[str, str], log_path: Path, ready_path: str
) -> Server:
    """Start `functions-framework` (gunicorn, gthread worker) and wait for a 200 on `ready_path`."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        f"--target={target}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    log_file.close()
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(server.url + ready_path, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(
        f"{name} did not respond to {ready_path} within {SERVER_START_TIMEOUT_SECONDS} s:\n"
        f"{log_path.read_text(errors='replace')}"
    )


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


def server_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        **QUIET_ENV,
        "WORKERS": str(args.workers),
        "THREADS": str(args.threads),
        "LICENSE_DATA_DIR": str(data_dir),
        "LICENSE_ISSUER": "https://licenses.bench.invalid",
    }


# Load generation.


@dataclasses.dataclass(frozen=True)
class RunResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    not_ok: int
    socket_errors: int
    timeouts: int
    bodies: int

    @property
    def repeated_bodies(self) -> bool:
        return self.requests > self.bodies


def run_wrk(
    url: str, path: str, bodies: Path, args: argparse.Namespace, duration: int | None = None
) -> RunResult:
    seconds = duration or args.duration
    command = [
        "wrk",
        f"--threads={args.wrk_threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        f"--timeout={args.timeout}s",
        f"--script={WRK_SCRIPT}",
        url + path,
        "--",
        path,
        str(bodies),
        str(args.wrk_threads),
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    marker = "BENCH_RESULT "
    lines = [line for line in completed.stdout.splitlines() if line.startswith(marker)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed with exit code {completed.returncode}:\n{completed.stdout}\n"
            f"{completed.stderr}"
        )
    raw = json.loads(lines[-1].removeprefix(marker))
    return RunResult(
        requests_per_second=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=raw["requests"],
        not_ok=raw["not_ok"],
        socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"],
        timeouts=raw["timeouts"],
        bodies=raw["bodies"],
    )


def warm_up(servers: Sequence[Server], data: BenchData, args: argparse.Namespace) -> None:
    """Send a few seconds of heartbeats to each server so that workers, imports and
    connections are ready before the first measured run."""
    for server in servers:
        run_wrk(server.url, HEARTBEAT_PATH, data.bodies["heartbeat", 0], args, duration=2)


# Profiling.

# Component charged with a sample: the first whose marker matches a frame's file, from the
# innermost frame outwards.
# py-spy writes file names relative to their `sys.path` entry (`gunicorn/util.py`, the
# API's `functions/http.py`), so markers are matched against the name with a leading "/".
PROFILE_COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email validation (email-validator)", ("/email_validator/", "/idna/")),
    ("request validation (pydantic)", ("/pydantic/", "/pydantic_core/", "/functions/schemas.py")),
    ("ECDSA signing (cryptography)", ("/cryptography/", "/functions/signing/")),
    ("token building (JSON, base64)", ("/functions/tokens.py",)),
    ("SQLite store: queries and row mapping", ("/functions/store/",)),
    ("JSON logging", ("/logging/", "/functions/logs.py")),
    ("key hashing (HMAC)", ("/functions/identity.py", "/hmac.py")),
    ("seat logic", ("/functions/seats.py",)),
    ("API handling (http.py, service.py)", ("/functions/",)),
    ("Flask and Werkzeug", ("/flask/", "/werkzeug/", "/blinker/")),
    ("functions-framework", ("/functions_framework/",)),
    ("gunicorn (HTTP parsing, socket I/O)", ("/gunicorn/",)),
    ("thread pool and poller", ("/concurrent/", "/threading.py", "/selectors.py", "/queue.py")),
)
# Leaf frames of the store that are waits rather than work: the in-process write turn,
# and the BEGIN IMMEDIATE / COMMIT statements, where the commit waits for fsync.
STORE_WAITS = {
    "SqliteSeatStore.run_transaction": "SQLite store: waiting for the write turn",
    "SqliteSeatStore._run_attempts": "SQLite store: BEGIN IMMEDIATE and COMMIT (fsync)",
}
PROFILE_MODES = {
    # Samples only the thread holding the GIL, which shows where the worker's CPU time goes.
    "gil": ("--gil",),
    # Samples every thread, waiting or not. The summary keeps only stacks inside a request.
    "wall": ("--idle",),
}


def profile_run(
    py_spy: str,
    mode: str,
    api: Server,
    scenario: str,
    bodies: Path,
    out: Path,
    args: argparse.Namespace,
) -> Path:
    """Run wrk against the API while py-spy samples the gunicorn worker processes."""
    command = [
        py_spy,
        "record",
        f"--pid={api.process.pid}",
        "--subprocesses",
        "--rate=250",
        *PROFILE_MODES[mode],
        f"--duration={args.duration}",
        "--format=raw",
        f"--output={out}",
    ]
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    run_wrk(api.url, SCENARIO_PATHS[scenario], bodies, args)
    _, stderr = profiler.communicate(timeout=args.duration + 60)
    if profiler.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed with exit code {profiler.returncode}: {stderr!r}")
    return out


def _frame_function(frame: str) -> str:
    # py-spy writes a frame as `function (path/to/file.py:line)`.
    return frame.partition(" (")[0]


def _frame_file(frame: str) -> str:
    return frame.rpartition(" (")[2].rsplit(":", 1)[0]


def _component(frames: Sequence[str]) -> str:
    leaf = frames[-1]
    if "/functions/store/" in "/" + _frame_file(leaf):
        wait = STORE_WAITS.get(_frame_function(leaf))
        if wait is not None:
            return wait
    for frame in reversed(frames):
        path = "/" + _frame_file(frame)
        for name, markers in PROFILE_COMPONENTS:
            if any(marker in path for marker in markers):
                return name
    return "other"


@dataclasses.dataclass(frozen=True)
class ProfileSummary:
    samples: int
    components: list[tuple[str, float]]
    hottest_frames: list[tuple[str, float]]


def summarize_profile(path: Path, mode: str) -> ProfileSummary:
    """Share of samples per component, and the frames with the most samples as the leaf.

    In `wall` mode only stacks inside gunicorn's `handle_request` count, so the shares are
    of the time requests spend in the worker, waits included.
    """
    components: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if mode == "wall" and not any(
            _frame_function(frame) == "ThreadWorker.handle_request" for frame in frames
        ):
            continue
        count = int(count_text)
        total += count
        components[_component(frames)] += count
        leaf_file = _frame_file(frames[-1]).rsplit("/", 1)[-1]
        leaves[f"{_frame_function(frames[-1])} ({leaf_file})"] += count
    if total == 0:
        return ProfileSummary(0, [], [])
    return ProfileSummary(
        total,
        [(name, 100 * samples / total) for name, samples in components.most_common()],
        [(name, 100 * samples / total) for name, samples in leaves.most_common(10)],
    )


# Reporting.


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version[0] if wrk_version else "unknown",
        "load_average": os.getloadavg(),
    }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("inf")


@dataclasses.dataclass
class Pair:
    scenario: str
    round_index: int
    api: RunResult
    bare: RunResult

    @property
    def throughput_ratio(self) -> float:
        return _ratio(self.api.requests_per_second, self.bare.requests_per_second)

    @property
    def p99_ratio(self) -> float:
        return _ratio(self.api.p99_ms, self.bare.p99_ms)


def verdict(scenario: str, throughput_ratio: float, p99_ratio: float) -> str:
    misses = []
    target = THROUGHPUT_TARGETS.get(scenario)
    if target is not None and throughput_ratio < target:
        misses.append(f"req/s < {target:.2f}x")
    if p99_ratio > P99_LIMIT_RATIO:
        misses.append(f"p99 > {P99_LIMIT_RATIO:.0f}x")
    if misses:
        return "MISS: " + ", ".join(misses)
    return "met" if target is not None else "met (p99 only)"


def print_round(pair: Pair) -> None:
    notes = []
    for label, result in (("api", pair.api), ("bare", pair.bare)):
        if result.not_ok or result.socket_errors or result.timeouts:
            notes.append(
                f"{label}: {result.not_ok} non-200, {result.socket_errors} socket errors, "
                f"{result.timeouts} timeouts"
            )
    if pair.scenario in ("acquire-new", "release") and pair.api.repeated_bodies:
        notes.append(f"api sent {pair.api.requests} requests for {pair.api.bodies} bodies")
    print(
        f"  round {pair.round_index + 1} {pair.scenario:<13} "
        f"api {pair.api.requests_per_second:7.0f} req/s p50 {pair.api.p50_ms:6.2f} ms "
        f"p99 {pair.api.p99_ms:6.2f} ms | "
        f"bare {pair.bare.requests_per_second:7.0f} req/s p50 {pair.bare.p50_ms:6.2f} ms "
        f"p99 {pair.bare.p99_ms:6.2f} ms | "
        f"{pair.throughput_ratio:.2f}x req/s, {pair.p99_ratio:.2f}x p99"
        + (f"  [{'; '.join(notes)}]" if notes else ""),
        flush=True,
    )


def summary_rows(pairs: Sequence[Pair], scenarios: Sequence[str]) -> list[dict[str, Any]]:
    """Median over rounds of each figure, and the median of the per-round ratios."""
    rows = []
    for scenario in scenarios:
        runs = [pair for pair in pairs if pair.scenario == scenario]
        if not runs:
            continue
        throughput_ratio = statistics.median(pair.throughput_ratio for pair in runs)
        p99_ratio = statistics.median(pair.p99_ratio for pair in runs)
        rows.append(
            {
                "scenario": scenario,
                "api_rps": statistics.median(p.api.requests_per_second for p in runs),
                "bare_rps": statistics.median(p.bare.requests_per_second for p in runs),
                "throughput_ratio": throughput_ratio,
                "api_p50_ms": statistics.median(p.api.p50_ms for p in runs),
                "bare_p50_ms": statistics.median(p.bare.p50_ms for p in runs),
                "api_p99_ms": statistics.median(p.api.p99_ms for p in runs),
                "bare_p99_ms": statistics.median(p.bare.p99_ms for p in runs),
                "p99_ratio": p99_ratio,
                "verdict": verdict(scenario, throughput_ratio, p99_ratio),
                "api_not_ok": sum(p.api.not_ok for p in runs),
            }
        )
    return rows


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    header = (
        "| scenario | API req/s | bare req/s | req/s ratio | API p50 ms | bare p50 ms "
        "| API p99 ms | bare p99 ms | p99 ratio | target |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for row in rows:
        print(
            f"| {row['scenario']} | {row['api_rps']:.0f} | {row['bare_rps']:.0f} "
            f"| {row['throughput_ratio']:.2f} | {row['api_p50_ms']:.2f} "
            f"| {row['bare_p50_ms']:.2f} | {row['api_p99_ms']:.2f} | {row['bare_p99_ms']:.2f} "
            f"| {row['p99_ratio']:.2f} | {row['verdict']} |"
        )


def count_open_leases(data_dir: Path, license_id: str) -> int:
    store = SqliteSeatStore(data_dir)
    try:
        return len(store.list_open_leases(license_id))
    finally:
        store.close()


# Main.


def run_rounds(api: Server, bare: Server, data: BenchData, args: argparse.Namespace) -> list[Pair]:
    pairs = []
    for round_index in range(args.rounds):
        for scenario in args.scenarios:
            path = SCENARIO_PATHS[scenario]
            bodies = data.bodies[scenario, round_index]
            # Alternate which server goes first so that a slow phase of the machine does
            # not always land on the same one.
            order = (api, bare) if round_index % 2 == 0 else (bare, api)
            results = {server.name: run_wrk(server.url, path, bodies, args) for server in order}
            pair = Pair(scenario, round_index, results["api"], results["bare"])
            print_round(pair)
            pairs.append(pair)
    return pairs


def run_profiles(api: Server, data: BenchData, args: argparse.Namespace, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for scenario in args.scenarios:
        for offset, mode in enumerate(PROFILE_MODES):
            out = folder / f"{scenario}.{mode}.collapsed.txt"
            bodies = data.bodies[scenario, args.rounds + offset]
            profile_run(args.py_spy, mode, api, scenario, bodies, out, args)
            summary = summarize_profile(out, mode)
            print(f"\nProfile of {scenario}, {mode} mode: {summary.samples} samples, in {out}")
            for name, share in summary.components:
                print(f"  {share:5.1f}%  {name}")
            print("  Frames with the most samples as the innermost frame:")
            for name, share in summary.hottest_frames:
                print(f"  {share:5.1f}%  {name}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed; install it with `apt-get install -y wrk`.", file=sys.stderr)
        return 2
    os.environ.update(QUIET_ENV)
    work_dir = Path(tempfile.mkdtemp(prefix="license-bench-"))
    data_dir = work_dir / "data"
    body_dir = work_dir / "bodies"
    body_dir.mkdir()
    servers: list[Server] = []
    try:
        facts = machine_facts()
        print(f"Machine: {json.dumps(facts)}", flush=True)
        print(
            f"Settings: WORKERS={args.workers} THREADS={args.threads}, wrk "
            f"{args.wrk_threads} thread(s), {args.connections} connections, "
            f"{args.duration} s per run, {args.rounds} round(s); work folder {work_dir}",
            flush=True,
        )
        started = time.monotonic()
        data = prepare_data(data_dir, body_dir, args)
        print(f"Prepared licenses and leases in {time.monotonic() - started:.1f} s.", flush=True)

        env = server_env(args, data_dir)
        servers.append(
            start_server("api", API_SOURCE, "licenses", env, work_dir / "api.log", "/healthz")
        )
        servers.append(start_server("bare", BARE_SOURCE, "bare", env, work_dir / "bare.log", "/"))
        api, bare = servers
        warm_up(servers, data, args)

        pairs = run_rounds(api, bare, data, args)
        rows = summary_rows(pairs, args.scenarios)
        load_after = os.getloadavg()
        print(
            f"\nMedian of {args.rounds} round(s); ratios are API / bare. Load average before "
            f"{facts['load_average']}, after {load_after}."
        )
        if "acquire-new" in args.scenarios:
            acquired = [
                count_open_leases(data_dir, license_id)
                for license_id in data.acquire_license_ids[: args.rounds]
            ]
            print(f"Open leases on each round's acquire-new license at the end: {acquired}.")
        print()
        print_table(rows)

        if args.py_spy:
            run_profiles(api, data, args, args.profile_dir or work_dir / "profiles")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "time": datetime.now(UTC).isoformat(),
                        "machine": facts,
                        "load_average_after": load_after,
                        "arguments": {
                            key: (str(value) if isinstance(value, Path) else value)
                            for key, value in vars(args).items()
                        },
                        "rounds": [dataclasses.asdict(pair) for pair in pairs],
                        "summary": rows,
                    },
                    indent=2,
                )
            )
        return 0
    finally:
        for server in servers:
            stop_server(server)
        if args.keep_data:
            print(f"Kept {work_dir}.", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
