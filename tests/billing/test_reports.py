"""A month of simulated usage: CSV, JSON and HTML reports reconcile exactly with the ledger."""

from __future__ import annotations

import csv
import heapq
import io
import json
import logging
import os
import random
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from functions.admin import CreatedLicense, SeatTerms
from functions.billing.periods import Month, clip
from functions.billing.pressure import SEAT_PRESSURE_EVENT, log_seat_pressure
from functions.billing.pricing import round_money
from functions.billing.records import CommitmentKind, MoneyRounding, seconds_between
from functions.billing.render import CSV_COLUMNS, render_csv, render_html, render_json
from functions.billing.reports import build_report, filter_customer
from functions.errors import LicenseError
from functions.logs import CloudLoggingFormatter
from tests.billing.conftest import STORE_KINDS, Billing, open_billing, open_store, screenshot
from tests.conftest import REPO_ROOT
from tests.emulators import FirestoreEmulator

NOVEMBER = Month(2026, 11)
HEARTBEAT = 300
LIFETIME = 900


@dataclass(frozen=True)
class Session:
    license: CreatedLicense
    hardware_id: str
    user_email: str
    start: datetime
    # When the client releases, or for a silent client when it stops heartbeating.
    stop: datetime
    silent: bool


def plan_sessions(
    rng: random.Random, licenses: dict[str, CreatedLicense], per_license: int = 15
) -> list[Session]:
    sessions: list[Session] = []
    for name, created in licenses.items():
        for index in range(per_license):
            # Busy mornings on the first ten days make the small licenses run out of seats.
            day = rng.randint(1, 10) if index % 2 else rng.randint(1, 30)
            start = datetime(2026, 11, day, 9, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 7200))
            if name == "acme" and index == 0:
                # One session runs across the end of the month.
                start = datetime(2026, 11, 30, 23, 10, tzinfo=UTC)
            duration = timedelta(seconds=rng.randint(600, 7200))
            sessions.append(
                Session(
                    created,
                    f"hw-{name}-{index}",
                    f"user{rng.randint(1, 4)}@{name}.example",
                    start,
                    start + duration,
                    silent=rng.random() < 0.2,
                )
            )
    return sessions


def run_sessions(billing: Billing, sessions: list[Session]) -> None:
    """Play the sessions in time order through the license service."""
    queue: list[tuple[datetime, int, str, int, str]] = []
    for number, session in enumerate(sessions):
        heapq.heappush(queue, (session.start, number, "acquire", number, ""))
    sequence = len(sessions)
    while queue:
        moment, _, action, number, lease_id = heapq.heappop(queue)
        session = sessions[number]
        billing.move_to(moment)
        key = session.license.key
        if action == "acquire":
            try:
                grant = billing.service.acquire(key, session.hardware_id, session.user_email)
            except LicenseError:
                continue
            lease_id = grant.lease.id
        elif action == "heartbeat":
            billing.service.heartbeat(lease_id, key, session.hardware_id)
        else:
            billing.service.release(lease_id, key, session.hardware_id)
            continue
        following = moment + timedelta(seconds=HEARTBEAT)
        sequence += 1
        if following < session.stop:
            heapq.heappush(queue, (following, sequence, "heartbeat", number, lease_id))
        elif not session.silent:
            heapq.heappush(queue, (session.stop, sequence, "release", number, lease_id))


def simulate_month(billing: Billing, sessions_per_license: int) -> None:
    """Play one month of usage by three customers, and close every lease by Dec 1."""
    billing.admin.create_product("cad")
    billing.admin.create_product("viewer")
    terms = {"heartbeat_interval_seconds": HEARTBEAT, "lease_lifetime_seconds": LIFETIME}
    licenses = {
        "acme": billing.admin.create_license("cad", "acme", SeatTerms(seats=2, **terms)),
        "globex": billing.admin.create_license("cad", "globex", SeatTerms(seats=3, **terms)),
        "initech": billing.admin.create_license("viewer", "initech", SeatTerms(seats=1, **terms)),
    }
    november_1 = datetime(2026, 11, 1, tzinfo=UTC)
    billing.plan(november_1, "1.50", product="cad", granularity_seconds=60)
    globex = licenses["globex"].license.id
    billing.plan(
        november_1,
        "1.00",
        license_id=globex,
        commitment=CommitmentKind.SEAT_HOURS,
        included="5",
        overage="2.00",
    )
    billing.plan(
        datetime(2026, 11, 16, tzinfo=UTC),
        "1.20",
        license_id=globex,
        commitment=CommitmentKind.SEAT_HOURS,
        included="5",
        overage="2.40",
        rounding=MoneyRounding.HALF_EVEN,
    )
    billing.plan(november_1, "0.75", product="viewer", currency="USD")

    sessions = plan_sessions(random.Random(20261101), licenses, sessions_per_license)
    run_sessions(billing, sessions)
    billing.move_to(datetime(2026, 12, 1, 2, tzinfo=UTC))
    for lease in billing.store.list_open_leases():
        billing.admin.force_release(lease.id)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    """An embedded store holding one month of usage by three customers."""
    billing = open_billing(
        tmp_path_factory.mktemp("month") / "data", datetime(2026, 10, 31, tzinfo=UTC)
    )
    simulate_month(billing, sessions_per_license=15)
    yield billing
    billing.store.close()


def ledger_seconds(billing: Billing, month: Month) -> dict[str, Decimal]:
    """Sum the usage records' seat time inside `month` per license, straight from the ledger."""
    seconds: dict[str, Decimal] = defaultdict(Decimal)
    for record in billing.store.usage_records(month.start, month.end):
        part = clip(record.acquired_at, record.ended_at, month.start, month.end)
        if part is not None:
            seconds[record.license_id] += seconds_between(*part)
    return dict(seconds)


def csv_amounts(text: str) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(text, newline="")):
        amounts[row["currency"]] += Decimal(row["amount"])
    return {currency: amount for currency, amount in amounts.items()}


def assert_json_reconciles(month: Billing) -> None:
    report = json.loads(render_json(build_report(month.store, NOVEMBER, month.clock.now())))
    ledger = ledger_seconds(month, NOVEMBER)
    records = month.store.usage_records(NOVEMBER.start, NOVEMBER.end)
    denials = month.store.denials(NOVEMBER.start, NOVEMBER.end)

    by_license = {item["license_id"]: Decimal(item["seat_seconds"]) for item in report["licenses"]}
    assert by_license == ledger
    assert Decimal(report["totals"]["seat_seconds"]) == sum(ledger.values())
    line_seconds = sum(Decimal(line["seat_seconds"]) for line in report["lines"])
    assert line_seconds == sum(ledger.values())
    assert report["totals"]["acquisitions"] == sum(
        1 for record in records if NOVEMBER.start <= record.acquired_at < NOVEMBER.end
    )
    assert report["totals"]["denials"] == len(denials)
    assert report["totals"]["denials"] > 0
    assert report["totals"]["distinct_devices"] == len({r.device_hash for r in records})


def test_json_reconciles_with_ledger(month: Billing) -> None:
    assert_json_reconciles(month)


@pytest.mark.parametrize("store_kind", STORE_KINDS)
def test_short_month_reconciles_on_store(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Fewer sessions than the `month` fixture, because every call is a round trip to the
    # Firestore emulator.
    store = open_store(store_kind, tmp_path / "data", request)
    billing = open_billing(tmp_path / "data", datetime(2026, 10, 31, tzinfo=UTC), store)
    try:
        simulate_month(billing, sessions_per_license=5)

        assert_json_reconciles(billing)
        report = build_report(billing.store, NOVEMBER, billing.clock.now())
        summary = json.loads(render_json(report))["totals"]
        amounts = {c: str(a) for c, a in csv_amounts(render_csv(report)).items()}
        assert amounts == summary["amounts"]
        assert set(amounts) == {"EUR", "USD"}
    finally:
        billing.store.close()


def test_csv_totals_match_json(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    text = render_csv(report)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    summary = json.loads(render_json(report))["totals"]

    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(report["lines"])
    assert {kind for kind in (row["kind"] for row in rows)} >= {"usage", "commitment", "overage"}
    assert {c: str(a) for c, a in csv_amounts(text).items()} == summary["amounts"]
    assert set(summary["amounts"]) == {"EUR", "USD"}


def test_line_amounts_are_quantity_times_price(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    plans = {plan.id: plan for plan in month.store.list_price_plans()}
    for line in report["lines"]:
        plan = plans[line["plan_id"]]
        expected = round_money(
            Decimal(line["quantity_seat_hours"]) * Decimal(line["unit_price"]),
            plan.currency,
            plan.rounding,
        )
        assert Decimal(line["amount"]) == expected, line


def test_customer_reports_add_up(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    total: dict[str, Decimal] = defaultdict(Decimal)
    for customer in ("acme", "globex", "initech"):
        for currency, amount in csv_amounts(render_csv(filter_customer(report, customer))).items():
            total[currency] += amount

    assert dict(total) == csv_amounts(render_csv(report))
    acme = json.loads(render_json(filter_customer(report, "acme")))
    assert {item["customer"] for item in acme["licenses"]} == {"acme"}
    assert {line["customer"] for line in acme["lines"]} == {"acme"}


def test_html_is_self_contained(month: Billing) -> None:
    page = render_html(build_report(month.store, NOVEMBER, month.clock.now()))

    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) is None
    assert 'id="concurrency-chart"' in page


def colour_mask(
    image: Image.Image, colour: tuple[int, int, int], tolerance: int = 24
) -> Image.Image:
    """Return a mask that is 255 where every channel is within `tolerance` of `colour`."""
    bands = image.convert("RGB").split()
    masks = [
        band.point(lambda value, target=target: 255 if abs(value - target) <= tolerance else 0)
        for band, target in zip(bands, colour, strict=True)
    ]
    return ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])


def test_html_screenshot_shows_chart(month: Billing, chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(build_report(month.store, NOVEMBER, month.clock.now())))
    png = tmp_path / "report.png"

    screenshot(chromium, page, png, tmp_path / "profile", (1200, 1400))

    image = Image.open(png)
    assert image.size == (1200, 1400)
    # The step line of the seats chart (#1f6feb), the denial bars of the denials chart
    # (#d1242f at 60 % over white) and the provisional notice (#fff8c5).
    seats = colour_mask(image, (31, 111, 235))
    denials = colour_mask(image, (227, 124, 130))
    notice = colour_mask(image, (255, 248, 197), tolerance=4)
    assert seats.histogram()[255] > 500
    assert denials.histogram()[255] > 50
    assert notice.histogram()[255] > 2000
    seats_box, denials_box, notice_box = seats.getbbox(), denials.getbbox(), notice.getbbox()
    assert seats_box is not None
    assert denials_box is not None
    assert notice_box is not None
    # Separate charts: the denial bars sit below the seats line, the notice above both.
    assert seats_box[3] < denials_box[1]
    assert notice_box[3] < seats_box[1]
    assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 10
    if os.environ.get("BILLING_SCREENSHOT_DIR"):
        image.save(Path(os.environ["BILLING_SCREENSHOT_DIR"]) / "billing-report.png")


def test_seat_pressure_logged_above_threshold(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter())
    logger = logging.getLogger("functions.billing.pressure")
    logger.addHandler(handler)
    try:
        alerts = log_seat_pressure(report, Decimal("0.8"))
        quiet = log_seat_pressure(report, Decimal("1"))
    finally:
        logger.removeHandler(handler)

    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    full = {
        item["license_id"]
        for item in report["licenses"]
        if item["peak_concurrent_seats"] == item["seats"]
    }
    assert full
    assert {alert.license_id for alert in quiet} == full
    assert {alert.license_id for alert in alerts} >= full
    assert all(event["event"] == SEAT_PRESSURE_EVENT for event in events)
    assert all(event["severity"] == "WARNING" for event in events)
    assert len(events) == len(alerts) + len(quiet)
    for event in events:
        assert Decimal(event["share_at_full_capacity"]) <= Decimal(event["share_at_pressure"])


def run_cli(
    data_dir: Path, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the admin CLI on the embedded store in `data_dir`, or on the store `env` selects."""
    settings = {"LICENSE_DATA_DIR": str(data_dir), "LICENSE_STORE": "embedded", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "functions.cli", *arguments],
        cwd=REPO_ROOT,
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_report_close_and_freeze(tmp_path: Path) -> None:
    billing = open_billing(tmp_path / "data", datetime(2026, 10, 1, tzinfo=UTC))
    try:
        created = billing.license(customer="acme", seats=1)
        billing.service.acquire(created.key, "hw-1", "one@example.com")
        billing.clock.advance(30)
        with pytest.raises(LicenseError):
            billing.service.acquire(created.key, "hw-2", "two@example.com")
        lease = billing.store.list_open_leases()[0]
        billing.admin.force_release(lease.id)
    finally:
        billing.store.close()
    data = billing.data_dir

    plan = run_cli(
        data, "billing", "plans", "set", "--product", "cad", "--currency", "EUR",
        "--effective-from", "2026-10-01T00:00:00Z", "--price-per-seat-hour", "120",
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    report = run_cli(data, "billing", "report", "--month", "2026-10", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["amounts"] == {"EUR": "1.00"}
    pressure = [json.loads(line) for line in report.stderr.splitlines()]
    assert [event["event"] for event in pressure] == [SEAT_PRESSURE_EVENT]

    closed = run_cli(data, "billing", "close", "--month", "2026-10")
    assert closed.returncode == 0, closed.stderr
    outputs = []
    for attempt in range(2):
        output = tmp_path / f"report-{attempt}.csv"
        result = run_cli(
            data, "billing", "report", "--month", "2026-10", "--format", "csv",
            "--customer", "acme", "--output", str(output),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\r\n") == 2

    again = run_cli(data, "billing", "close", "--month", "2026-10")
    assert again.returncode == 1
    assert "already closed" in again.stderr
    bad = run_cli(data, "billing", "report", "--month", "2026-13")
    assert bad.returncode == 2
    assert "not a valid month" in bad.stderr


def test_cli_report_and_close_on_firestore(
    firestore_emulator: FirestoreEmulator, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = open_store("firestore", tmp_path / "data", request)
    billing = open_billing(tmp_path / "data", datetime(2026, 10, 1, tzinfo=UTC), store)
    try:
        billing.plan(datetime(2026, 10, 1, tzinfo=UTC), "120")
        created = billing.license(customer="acme", seats=1)
        billing.service.acquire(created.key, "hw-1", "one@example.com")
        billing.clock.advance(30)
        with pytest.raises(LicenseError):
            billing.service.acquire(created.key, "hw-2", "two@example.com")
        lease = billing.store.list_open_leases()[0]
        billing.admin.force_release(lease.id)
    finally:
        billing.store.close()
    env = {"LICENSE_STORE": "firestore", **firestore_emulator.env}

    report = run_cli(billing.data_dir, "billing", "report", "--month", "2026-10", "--format",
                     "json", env=env)  # fmt: skip
    assert report.returncode == 0, report.stderr
    totals = json.loads(report.stdout)["totals"]
    assert totals["amounts"] == {"EUR": "1.00"}
    assert totals["denials"] == 1

    closed = run_cli(billing.data_dir, "billing", "close", "--month", "2026-10", env=env)
    assert closed.returncode == 0, closed.stderr
    frozen = run_cli(billing.data_dir, "billing", "report", "--month", "2026-10", "--format",
                     "json", env=env)  # fmt: skip
    assert frozen.returncode == 0, frozen.stderr
    assert json.loads(frozen.stdout)["status"] == "closed"
    assert json.loads(frozen.stdout)["totals"] == totals
    again = run_cli(billing.data_dir, "billing", "close", "--month", "2026-10", env=env)
    assert again.returncode == 1
    assert "already closed" in again.stderr


def test_csv_neutralizes_formula_cells(billing: Billing) -> None:
    billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "1.00")
    created = billing.license(customer="=HYPERLINK(1)")
    lease_id = billing.hold(created, "hw-1", 60)
    billing.service.release(lease_id, created.key, "hw-1")

    text = render_csv(build_report(billing.store, NOVEMBER, billing.clock.now()))

    [row] = csv.DictReader(io.StringIO(text, newline=""))
    assert row["customer"] == "'=HYPERLINK(1)"
    assert row["amount"] == "0.02"
