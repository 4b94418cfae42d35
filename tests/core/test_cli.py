"""The admin CLI on the data folder of the test's service.

Commands run as `python -m functions.cli` subprocesses. The table of bad inputs also calls
`functions.cli.main` in this process, which is faster and shows any escaping exception (a
traceback in a real run) as a test error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from functions import cli
from functions.admin import Admin, SeatTerms
from functions.clock import ManualClock
from functions.errors import LicenseError
from functions.models import LicenseStatus
from functions.service import LicenseService
from tests.conftest import REPO_ROOT
from tests.core.conftest import LicenseFactory

CLI_TIMEOUT_SECONDS = 30


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LICENSE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "functions.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def run_json(data_dir: Path, *args: str) -> Any:
    result = run_cli(data_dir, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def create_license(data_dir: Path, *extra: str) -> dict[str, Any]:
    created: dict[str, Any] = run_json(
        data_dir, "licenses", "create", "--product", "demo", "--seats", "2", *extra
    )
    return created


class TestCreate:
    def test_json_prints_key(self, data_dir: Path) -> None:
        created = create_license(data_dir)

        assert created["key"].startswith("lk_")
        assert created["id"].startswith("lic_")
        assert created["product"] == "demo"
        assert created["seats"] == 2
        assert created["status"] == "active"

    def test_key_acquires_seat(self, data_dir: Path, service: LicenseService) -> None:
        created = create_license(data_dir)

        grant = service.acquire(created["key"], "hw-1", "user@example.com")

        assert grant.lease.license_id == created["id"]
        assert grant.lease.seats_total == 2

    def test_text_prints_key(self, data_dir: Path) -> None:
        result = run_cli(data_dir, "licenses", "create", "--product", "demo", "--seats", "2")

        assert result.returncode == 0
        assert "lk_" in result.stdout

    def test_terms_options(self, data_dir: Path) -> None:
        created = create_license(
            data_dir,
            "--heartbeat-interval",
            "30",
            "--lease-lifetime",
            "90",
            "--seat-scope",
            "user_email",
            "--expires-at",
            "2030-01-31T00:00:00Z",
        )

        assert created["heartbeat_interval_seconds"] == 30
        assert created["lease_lifetime_seconds"] == 90
        assert created["seat_scope"] == "user_email"
        assert created["expires_at"] == "2030-01-31T00:00:00+00:00"

    def test_from_policy(self, data_dir: Path) -> None:
        run_json(data_dir, "policies", "create", "team", "--seats", "7")

        created: dict[str, Any] = run_json(
            data_dir, "licenses", "create", "--product", "demo", "--policy", "team"
        )

        assert created["seats"] == 7
        assert created["policy_id"].startswith("pol_")


class TestList:
    def test_lists_licenses(self, data_dir: Path, new_license: LicenseFactory) -> None:
        first = new_license()
        second = new_license()

        result = run_cli(data_dir, "licenses", "list", "--json")

        listed = json.loads(result.stdout)
        # Both licenses share one ManualClock instant, so the listing order between them is not set.
        assert sorted(row["id"] for row in listed) == sorted([first.license.id, second.license.id])
        assert first.key not in result.stdout
        assert "key" not in listed[0]

    def test_table(self, data_dir: Path, new_license: LicenseFactory) -> None:
        created = new_license()

        result = run_cli(data_dir, "licenses", "list")

        assert result.returncode == 0
        assert created.license.id in result.stdout


class TestStatus:
    @pytest.mark.parametrize(
        ("command", "status", "code"),
        [("suspend", "suspended", "license_suspended"), ("revoke", "revoked", "license_revoked")],
    )
    def test_closes_leases(
        self,
        data_dir: Path,
        service: LicenseService,
        new_license: LicenseFactory,
        command: str,
        status: str,
        code: str,
    ) -> None:
        created = new_license()
        grant = service.acquire(created.key, "hw-1", "user@example.com")

        changed = run_json(data_dir, "licenses", command, created.license.id)

        assert changed["status"] == status
        assert changed["leases_closed"] == 1
        with pytest.raises(LicenseError) as raised:
            service.heartbeat(grant.lease.id, created.key, "hw-1")
        assert raised.value.code.value == code

    def test_reinstate(
        self, data_dir: Path, service: LicenseService, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license()
        admin.set_status(created.license.id, LicenseStatus.SUSPENDED)

        changed = run_json(data_dir, "licenses", "reinstate", created.license.id)

        assert changed["status"] == "active"
        assert service.acquire(created.key, "hw-1", "user@example.com").lease.id


class TestLeases:
    def test_lists_open_leases(
        self, data_dir: Path, service: LicenseService, new_license: LicenseFactory
    ) -> None:
        created = new_license()
        new_license()
        grant = service.acquire(created.key, "hw-1", " User@Example.com")

        listed = run_json(data_dir, "leases", "list", "--license", created.license.id)

        [lease] = listed
        assert lease["id"] == grant.lease.id
        assert lease["hardware_id"] == "hw-1"
        assert lease["user_email"] == "user@example.com"

    def test_force_release(
        self, data_dir: Path, service: LicenseService, new_license: LicenseFactory
    ) -> None:
        created = new_license()
        grant = service.acquire(created.key, "hw-1", "user@example.com")

        released = run_json(data_dir, "leases", "release", grant.lease.id)

        assert released["close_reason"] == "force_released"
        assert service.store.list_open_leases() == []
        with pytest.raises(LicenseError) as raised:
            service.heartbeat(grant.lease.id, created.key, "hw-1")
        assert raised.value.code.value == "lease_expired"


# (arguments, text the error message must contain)
BAD_INPUT = [
    (["licenses", "create", "--product", "demo", "--seats", "0"], "seats"),
    (["licenses", "create", "--product", "demo", "--seats", "x"], "--seats"),
    (["licenses", "create", "--seats", "2"], "--product"),
    (["licenses", "create", "--product", "demo"], "--seats"),
    (["licenses", "create", "--product", "", "--seats", "2"], "slug"),
    (["products", "create", "Bad Slug!"], "Invalid product slug"),
    (["licenses", "create", "--product", "taken", "--seats", "1" + "0" * 20], "seats must be"),
    (
        ["licenses", "create", "--product", "taken", "--seats", "2", "--lease-lifetime", "86401"],
        "at most 86400",
    ),
    (
        [
            "licenses",
            "create",
            "--product",
            "taken",
            "--seats",
            "2",
            "--heartbeat-interval",
            "1" + "0" * 15,
            "--lease-lifetime",
            "1" + "0" * 15 + "1",
        ],
        "at most 86400",
    ),
    (["policies", "create", "big", "--seats", "9" * 20], "seats must be"),
    (
        [
            "billing",
            "plans",
            "set",
            "--product",
            "taken",
            "--effective-from",
            "2026-01-01T00:00:00Z",
            "--currency",
            "EUR",
            "--price-per-seat-hour",
            "1e400",
        ],
        "--price-per-seat-hour",
    ),
    (
        [
            "billing",
            "plans",
            "set",
            "--product",
            "taken",
            "--effective-from",
            "2026-01-01T00:00:00Z",
            "--currency",
            "EUR",
            "--price-per-seat-hour",
            "1",
            "--granularity-seconds",
            "9" * 20,
        ],
        "--granularity-seconds",
    ),
    (
        ["licenses", "create", "--product", "taken", "--seats", "2", "--customer", "a\nb"],
        "control characters",
    ),
    (["licenses", "create", "--product", "taken", "--seats", "2", "--customer", " "], "customer"),
    (["licenses", "create", "--product", "demo", "--seats", "2", "--seat-scope", "x"], "scope"),
    (
        ["licenses", "create", "--product", "demo", "--seats", "2", "--expires-at", "2030-01-01"],
        "time zone",
    ),
    (
        ["licenses", "create", "--product", "demo", "--seats", "2", "--expires-at", "soon"],
        "ISO 8601",
    ),
    (
        ["licenses", "create", "--product", "demo", "--seats", "2", "--heartbeat-interval", "0"],
        "heartbeat interval",
    ),
    (
        ["licenses", "create", "--product", "demo", "--seats", "2", "--lease-lifetime", "30"],
        "lease lifetime",
    ),
    (["licenses", "create", "--product", "demo", "--policy", "missing"], "missing"),
    (["licenses", "create", "--product", "demo", "--policy", "team", "--seats", "0"], "seats"),
    (["licenses", "suspend", "lic_missing"], "lic_missing"),
    (["leases", "release", "lease_missing"], "lease_missing"),
    (["products", "create", "taken"], "already exists"),
    (["licenses", "frobnicate"], "frobnicate"),
]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the CLI in this process; return its exit status and stderr."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"), BAD_INPUT, ids=[" ".join(args[1:]) or "-" for args, _ in BAD_INPUT]
)
def test_bad_input(
    data_dir: Path,
    admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    admin.create_product("taken")
    admin.create_policy("team", SeatTerms(seats=3))
    monkeypatch.setenv("LICENSE_DATA_DIR", str(data_dir))

    status, stderr = run_main(args, capsys)

    assert status != 0
    assert expected in stderr
    assert "error" in stderr


@pytest.mark.parametrize(
    "args",
    [
        ["licenses", "create", "--product", "demo", "--seats", "0"],
        ["licenses", "create", "--product", "demo", "--seats", "x"],
    ],
)
def test_bad_input_process(data_dir: Path, args: list[str]) -> None:
    result = run_cli(data_dir, *args)

    assert result.returncode != 0
    assert "error" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_data_dir_is_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")

    result = run_cli(not_a_folder, "licenses", "list")

    assert result.returncode != 0
    assert str(not_a_folder) in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_store(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LICENSE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LICENSE_STORE", "postgres")

    status, stderr = run_main(["licenses", "list"], capsys)

    assert status != 0
    assert "LICENSE_STORE" in stderr


class TestStoreGuards:
    def test_typo_product_rejected(self, data_dir: Path, new_license: LicenseFactory) -> None:
        new_license()

        result = run_cli(data_dir, "licenses", "create", "--product", "dmeo", "--seats", "2")

        assert result.returncode == 1
        assert "'dmeo'" in result.stderr
        assert "known products: demo" in result.stderr

    def test_first_product_created(self, data_dir: Path) -> None:
        result = run_cli(data_dir, "licenses", "create", "--product", "cad", "--seats", "2")

        assert result.returncode == 0
        assert "Created product cad" in result.stderr

    def test_missing_folder_not_created(self, tmp_path: Path) -> None:
        missing = tmp_path / "mistyped"

        result = run_cli(missing, "licenses", "list")

        assert result.returncode == 1
        assert "LICENSE_DATA_DIR" in result.stderr
        assert not missing.exists()

    def test_past_expiry_rejected(self, data_dir: Path) -> None:
        result = run_cli(
            data_dir,
            "licenses",
            "create",
            "--product",
            "demo",
            "--seats",
            "2",
            "--expires-at",
            "2020-01-01T00:00:00Z",
        )

        assert result.returncode == 1
        assert "in the past" in result.stderr


class TestStates:
    def test_list_marks_expired(
        self, data_dir: Path, new_license: LicenseFactory, clock: ManualClock
    ) -> None:
        # The subprocess runs on the real clock, long after the test clock's hour.
        created = new_license(expires_at=clock.now() + timedelta(hours=1))

        [listed] = run_json(data_dir, "licenses", "list")
        table = run_cli(data_dir, "licenses", "list").stdout

        assert listed["expired"] is True
        assert listed["status"] == "active"
        assert created.license.id in table
        assert "expired" in table

    def test_show(
        self, data_dir: Path, service: LicenseService, new_license: LicenseFactory
    ) -> None:
        created = new_license()
        service.acquire(created.key, "hw-1", "user@example.com")

        shown = run_json(data_dir, "licenses", "show", created.license.id)

        assert shown["id"] == created.license.id
        assert shown["open_leases"] == 1
        assert "key" not in shown

    def test_reinstate_active_says_so(self, data_dir: Path, new_license: LicenseFactory) -> None:
        created = new_license()

        result = run_cli(data_dir, "licenses", "reinstate", created.license.id)

        assert result.returncode == 0
        assert "already active" in result.stdout

    def test_release_twice_says_so(
        self, data_dir: Path, service: LicenseService, new_license: LicenseFactory
    ) -> None:
        created = new_license()
        grant = service.acquire(created.key, "hw-1", "user@example.com")
        run_cli(data_dir, "leases", "release", grant.lease.id)

        again = run_cli(data_dir, "leases", "release", grant.lease.id)

        assert again.returncode == 0
        assert "already closed" in again.stdout

    def test_leases_of_unknown_license(self, data_dir: Path, new_license: LicenseFactory) -> None:
        new_license()

        result = run_cli(data_dir, "leases", "list", "--license", "lic_nope")

        assert result.returncode == 1
        assert "lic_nope" in result.stderr

    def test_sweep_closes_expired(
        self, data_dir: Path, service: LicenseService, new_license: LicenseFactory
    ) -> None:
        # Leases granted on the test clock expired long before the real clock's now.
        created = new_license()
        grant = service.acquire(created.key, "hw-1", "user@example.com")

        [listed] = run_json(data_dir, "leases", "list")
        swept = run_json(data_dir, "leases", "sweep")

        assert listed["state"] == "expired"
        assert swept["closed"] == 1
        assert service.store.list_open_leases() == []
        assert grant.lease.id not in run_cli(data_dir, "leases", "list").stdout


class TestExtend:
    def test_extend_then_never(self, data_dir: Path) -> None:
        created = create_license(data_dir, "--expires-at", "2030-01-31T00:00:00Z")

        later = run_json(
            data_dir, "licenses", "extend", created["id"], "--expires-at", "2031-01-31T00:00:00Z"
        )
        never = run_json(data_dir, "licenses", "extend", created["id"], "--never")

        assert later["expires_at"] == "2031-01-31T00:00:00+00:00"
        assert never["expires_at"] is None

    def test_earlier_rejected(self, data_dir: Path) -> None:
        created = create_license(data_dir, "--expires-at", "2030-01-31T00:00:00Z")

        result = run_cli(
            data_dir, "licenses", "extend", created["id"], "--expires-at", "2029-01-31T00:00:00Z"
        )

        assert result.returncode == 1
        assert "can only move later" in result.stderr
        assert "suspend or revoke" in result.stderr
