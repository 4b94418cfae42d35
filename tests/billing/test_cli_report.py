"""`billing report` on bad input: one clear error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.billing.pressure import SEAT_PRESSURE_EVENT
from functions.errors import LicenseError
from tests.billing.conftest import open_billing
from tests.billing.test_reports import run_cli

REPORT = ("billing", "report", "--month", "2026-10")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store where acme and globex each filled their single seat in October."""
    billing = open_billing(
        tmp_path_factory.mktemp("cli") / "data", datetime(2026, 10, 1, tzinfo=UTC)
    )
    try:
        billing.plan(datetime(2026, 10, 1, tzinfo=UTC), "120")
        for customer in ("acme", "globex"):
            created = billing.license(customer=customer, seats=1)
            billing.service.acquire(created.key, f"hw-{customer}-1", "one@example.com")
            billing.clock.advance(30)
            with pytest.raises(LicenseError):
                billing.service.acquire(created.key, f"hw-{customer}-2", "two@example.com")
        for lease in billing.store.list_open_leases():
            billing.admin.force_release(lease.id)
    finally:
        billing.store.close()
    return billing.data_dir


def pressure_customers(stderr: str) -> list[str]:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return sorted(event["customer"] for event in events if event["event"] == SEAT_PRESSURE_EVENT)


def assert_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, stderr


def test_customer_filter_limits_pressure(data: Path) -> None:
    every = run_cli(data, *REPORT)
    acme = run_cli(data, *REPORT, "--customer", "acme")

    assert every.returncode == 0, every.stderr
    assert pressure_customers(every.stderr) == ["acme", "globex"]
    assert acme.returncode == 0, acme.stderr
    assert pressure_customers(acme.stderr) == ["acme"]
    assert {row.split(",")[3] for row in acme.stdout.splitlines()[1:]} == {"acme"}


@pytest.mark.parametrize(
    ("customer", "message"),
    [
        ("ACME", "did you mean 'acme'?"),
        ("initech", "Known customers: acme, globex."),
    ],
)
def test_unknown_customer_rejected(data: Path, customer: str, message: str) -> None:
    result = run_cli(data, *REPORT, "--customer", customer)

    assert result.returncode == 1
    assert result.stdout == ""
    assert pressure_customers(result.stderr) == []
    assert_error(result.stderr, f"No license belongs to the customer {customer!r}", message)


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (("--pressure-threshold", "2"), ("--pressure-threshold", "2 is not a share of seats")),
        (("--pressure-threshold", "0"), ("--pressure-threshold", "greater than 0")),
        (("--month", "9999-12"), ("9999-12 is not a valid month", "year must be 1970 to 9998")),
        (("--month", "2026-13"), ("2026-13 is not a valid month", "month must be 01 to 12")),
    ],
)
def test_invalid_option_rejected(
    data: Path, arguments: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    result = run_cli(data, *REPORT, *arguments)

    assert result.returncode == 2
    assert_error(result.stderr, *fragments)


def test_unwritable_output_rejected(data: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "r.csv"

    no_folder = run_cli(data, *REPORT, "--output", str(missing))
    folder = run_cli(data, *REPORT, "--output", str(tmp_path))

    assert no_folder.returncode == 1
    assert_error(no_folder.stderr, str(missing), "does not exist")
    assert folder.returncode == 1
    assert_error(folder.stderr, str(tmp_path), "is a folder")


def test_json_flag_selects_json(data: Path) -> None:
    short = run_cli(data, *REPORT, "--json")
    conflict = run_cli(data, *REPORT, "--json", "--format", "csv")

    assert short.returncode == 0, short.stderr
    assert json.loads(short.stdout)["totals"]["amounts"] == {"EUR": "3.00"}
    assert conflict.returncode == 1
    assert conflict.stdout == ""
    assert_error(conflict.stderr, "--json conflicts with --format csv")
