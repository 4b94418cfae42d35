"""A reader's checks on the rendered report: every total is the sum of the rows it names."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser

from functions.billing.periods import Month
from functions.billing.records import ClosedPeriod
from functions.billing.render import render_csv, render_html, render_json
from functions.billing.reports import build_report, canonical_json, close_period, filter_customer
from tests.billing.conftest import Billing
from tests.billing.test_reports import NOVEMBER
from tests.billing.test_reports import month as month  # the simulated month, as a fixture


@dataclass
class Table:
    headers: list[str] = field(default_factory=list)
    # (the row's class attribute, its cell texts)
    rows: list[tuple[str, list[str]]] = field(default_factory=list)

    def column(self, header: str) -> int:
        return self.headers.index(header)

    def body(self) -> list[list[str]]:
        return [cells for css, cells in self.rows if css == ""]

    def of_class(self, css: str) -> list[list[str]]:
        return [cells for row_css, cells in self.rows if row_css == css]


class PageTables(HTMLParser):
    """Collect the tables of a page by the text of the h2 heading before each."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, Table] = {}
        self.heading = ""
        self.text: list[str] | None = None
        self.table: Table | None = None
        self.row: list[str] | None = None
        self.row_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h2", "th", "td"):
            self.text = []
        if tag == "table":
            self.table = self.tables.setdefault(self.heading, Table())
        if tag == "tr":
            self.row = []
            self.row_class = dict(attrs).get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self.text or []).strip()
        if tag == "h2":
            self.heading = text
        elif tag == "th" and self.table is not None:
            self.table.headers.append(text)
        elif tag == "td" and self.row is not None:
            self.row.append(text)
        elif tag == "tr" and self.table is not None and self.row:
            self.table.rows.append((self.row_class, self.row))
        if tag in ("h2", "th", "td"):
            self.text = None

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)


def page_tables(page: str) -> dict[str, Table]:
    parser = PageTables()
    parser.feed(page)
    return parser.tables


def number(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def column_sum(rows: list[list[str]], index: int) -> Decimal:
    """Add up one column, counting an empty cell as 0."""
    return sum((number(cells[index]) for cells in rows), Decimal(0))


def test_html_line_totals_are_row_sums(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    lines = page_tables(render_html(report))["Invoice lines"]
    columns = [
        "Measured seat-hours",
        "Billed seat-hours",
        "Committed seat-hours",
        "Amount (EUR)",
        "Amount (USD)",
    ]
    [total] = lines.of_class("total")
    subtotals = lines.of_class("subtotal")

    assert len(lines.body()) == len(report["lines"])
    assert len(subtotals) == 3
    for header in columns:
        index = lines.column(header)
        # Subtotal and total rows start with one cell that spans the first five columns.
        total_index = index - 4
        assert number(total[total_index]) == column_sum(lines.body(), index), header
        assert number(total[total_index]) == column_sum(subtotals, total_index), header
        assert number(total[total_index]) > 0, header


def test_html_measured_and_billed_reconcile(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    tables = page_tables(render_html(report))
    lines, licenses = tables["Invoice lines"], tables["Licenses"]
    summary = {cells[0]: cells[1] for cells in tables["Summary"].body()}

    measured = column_sum(licenses.body(), licenses.column("Measured seat-hours"))
    [license_total] = licenses.of_class("total")
    assert Decimal(license_total[1]) == measured
    assert Decimal(summary["Measured seat-hours"]) == measured
    assert column_sum(lines.body(), lines.column("Measured seat-hours")) == measured
    billed = column_sum(lines.body(), lines.column("Billed seat-hours"))
    assert Decimal(summary["Billed seat-hours"]) == billed
    committed = column_sum(lines.body(), lines.column("Committed seat-hours"))
    assert Decimal(summary["Committed seat-hours"]) == committed
    assert committed > 0
    # Granularity rounding makes billed seat-hours of a usage line at least its measured ones.
    for cells in lines.body():
        if cells[lines.column("Kind")] in ("usage", "overage"):
            billed_hours = Decimal(cells[lines.column("Billed seat-hours")])
            assert billed_hours >= Decimal(cells[lines.column("Measured seat-hours")])
            assert cells[lines.column("Committed seat-hours")] == ""


def test_html_amounts_kept_per_currency(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    tables = page_tables(render_html(report))
    summary = {cells[0]: cells[1] for cells in tables["Summary"].body()}
    customers = tables["Amount due by customer"]
    totals = json.loads(render_json(report))["totals"]

    assert summary["Amount due (EUR)"] == totals["amounts"]["EUR"]
    assert summary["Amount due (USD)"] == totals["amounts"]["USD"]
    assert "Amount due" not in summary
    for currency in ("EUR", "USD"):
        index = customers.column(f"Amount due ({currency})")
        [total] = customers.of_class("total")
        assert Decimal(total[index]) == column_sum(customers.body(), index)
        assert total[index] == totals["amounts"][currency]
    assert [cells[0] for cells in customers.body()] == ["acme", "globex", "initech"]


def test_html_peaks_labelled_per_license(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    tables = page_tables(render_html(report))
    licenses = tables["Licenses"]
    summary = {cells[0]: cells[1] for cells in tables["Summary"].body()}

    peaks = [int(cells[licenses.column("Peak concurrent seats")]) for cells in licenses.body()]
    assert peaks == [item["peak_concurrent_seats"] for item in report["licenses"]]
    assert int(summary["Highest peak concurrent seats of one license"]) == max(peaks)
    assert "Peak concurrent seats" not in summary


def test_charts_have_own_labelled_axes(month: Billing) -> None:
    page = render_html(build_report(month.store, NOVEMBER, month.clock.now()))
    seats = re.search(r'<svg id="concurrency-chart".*?</svg>', page)
    denials = re.search(r'<svg id="denials-chart".*?</svg>', page)
    assert seats is not None
    assert denials is not None

    assert "Seats in use" in seats.group(0)
    assert "Denials per day" in denials.group(0)
    assert 'class="denials"' not in seats.group(0)
    for chart in (seats.group(0), denials.group(0)):
        assert "Day of 2026-11 (UTC)" in chart
        ticks = re.findall(r'text-anchor="end" font-size="11" fill="#57606a">([^<]*)<', chart)
        assert ticks
        assert all(tick.isdigit() for tick in ticks), ticks


def test_open_month_marked_provisional(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    page = render_html(report)
    rows = list(csv.DictReader(io.StringIO(render_csv(report), newline="")))

    assert "Provisional, not final" in page
    assert {row["status"] for row in rows} == {"provisional"}


def test_closed_empty_month_says_no_charges(billing: Billing) -> None:
    billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "1.00")
    billing.move_to(datetime(2026, 12, 2, tzinfo=UTC))
    close_period(billing.store, NOVEMBER, billing.clock.now())

    page = render_html(build_report(billing.store, NOVEMBER, billing.clock.now()))
    summary = {cells[0]: cells[1] for cells in page_tables(page)["Summary"].body()}

    assert summary["Amount due"] == "No charges"
    assert "Final: 2026-11 was closed" in page
    assert "Provisional" not in page


def test_json_customer_totals_match_csv(month: Billing) -> None:
    report = build_report(month.store, NOVEMBER, month.clock.now())
    totals = json.loads(render_json(report))["totals"]
    rows = list(csv.DictReader(io.StringIO(render_csv(report), newline="")))
    amounts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    billed = Decimal(0)
    for row in rows:
        amounts[row["customer"]][row["currency"]] += Decimal(row["amount"])
        if row["kind"] in ("usage", "overage"):
            billed += Decimal(row["quantity_seat_hours"])

    assert set(totals["by_customer"]) == set(amounts)
    for customer, sums in totals["by_customer"].items():
        assert sums["amounts"] == {c: str(a) for c, a in amounts[customer].items()}
        filtered = json.loads(render_json(filter_customer(report, customer)))["totals"]
        assert filtered["amounts"] == sums["amounts"]
    assert Decimal(totals["billed_seat_hours"]) == billed
    measured = sum((Decimal(row["measured_seat_hours"]) for row in rows), Decimal(0))
    assert Decimal(totals["measured_seat_hours"]) == measured
    licenses = sum((Decimal(item["seat_hours"]) for item in report["licenses"]), Decimal(0))
    assert licenses == measured


def test_format_one_closed_report_renders(billing: Billing) -> None:
    billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "1.00", granularity_seconds=60)
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 90)
    billing.service.release(lease_id, created.key, "hw-1")
    billing.move_to(datetime(2026, 12, 2, tzinfo=UTC))
    # A report as a month closed before lines had measured seat-hours stored it.
    old = build_report(billing.store, NOVEMBER, billing.clock.now())
    old.update(format_version=1, status="closed", closed_at="2026-12-02T00:00:00.000000+00:00")
    for line in old["lines"]:
        del line["measured_seat_hours"], line["granularity_seconds"]
    billing.store.insert_closed_period(
        ClosedPeriod(str(NOVEMBER), billing.clock.now(), canonical_json(old))
    )

    report = build_report(billing.store, NOVEMBER, billing.clock.now())
    [line] = report["lines"]

    assert line["measured_seat_hours"] == "0.025000"
    assert line["quantity_seat_hours"] == "0.033333"
    assert report["licenses"][0]["seat_hours"] == "0.025000"
    assert render_html(report) == render_html(
        build_report(billing.store, NOVEMBER, billing.clock.now())
    )
    assert "Final: 2026-11 was closed" in render_html(report)


def test_html_adjustments_in_own_column(billing: Billing) -> None:
    billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "1.00")
    created = billing.license()
    # A client goes silent two minutes before November ends, and November is closed before
    # its lease is, so December carries an adjustment for November.
    billing.move_to(datetime(2026, 11, 30, 23, 58, tzinfo=UTC))
    late = billing.service.acquire(created.key, "hw-1", "one@example.com").lease.id
    billing.move_to(datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC))
    close_period(billing.store, NOVEMBER, billing.clock.now())
    billing.move_to(datetime(2026, 12, 1, 0, 20, tzinfo=UTC))
    billing.admin.force_release(late)

    report = build_report(billing.store, Month(2026, 12), billing.clock.now())
    tables = page_tables(render_html(report))
    lines, customers = tables["Invoice lines"], tables["Amount due by customer"]
    summary = {cells[0]: cells[1] for cells in tables["Summary"].body()}
    [line] = lines.of_class("adjustment")

    adjusted = "Adjusted seat-hours (earlier months)"
    assert line[lines.column(adjusted)] == "0.016667"
    assert line[lines.column("Measured seat-hours")] == ""
    assert line[lines.column("Billed seat-hours")] == ""
    assert summary[adjusted] == "0.016667"
    assert summary["Measured seat-hours"] == "0.000000"
    [total] = customers.of_class("total")
    assert total[customers.column("Adjusted seat-hours")] == "0.016667"
    assert total[customers.column("Amount due (EUR)")] == "0.02"
