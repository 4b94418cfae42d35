"""Report output: CSV (one invoice line per row), JSON, and a self-contained HTML page.

Every renderer is a pure function of the report data, so a closed month, whose data is frozen,
renders to identical bytes every time. Amounts of different currencies are never added: every
total is per currency.
"""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from functions.billing.chart import DENIALS_COLOUR, SEATS_COLOUR, denials_chart, seats_chart
from functions.billing.pricing import UNPRICED_CURRENCY, ZERO_SEAT_HOURS, LineKind
from functions.billing.reports import canonical_json, totals

CSV_COLUMNS = (
    "month",
    "status",
    "kind",
    "customer",
    "license_id",
    "product",
    "plan_id",
    "period_start",
    "period_end",
    "adjusted_month",
    "seat_seconds",
    "measured_seat_hours",
    "granularity_seconds",
    "quantity_seat_hours",
    "unit_price",
    "currency",
    "amount",
)

# Free-text columns. Spreadsheet programs evaluate a cell that starts with one of
# _FORMULA_PREFIXES as a formula, so such a value gets a leading apostrophe.
_TEXT_COLUMNS = frozenset({"customer", "license_id", "product", "plan_id"})
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def line_status(report: dict[str, Any]) -> str:
    """Return `final` for a closed month and `provisional` for an open one."""
    return "final" if report["status"] == "closed" else "provisional"


def render_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for line in report["lines"]:
        row = {column: line.get(column, "") for column in CSV_COLUMNS}
        row["status"] = line_status(report)
        for column in _TEXT_COLUMNS:
            row[column] = _spreadsheet_safe(row[column])
        writer.writerow(row)
    return buffer.getvalue()


def render_json(report: dict[str, Any]) -> str:
    return canonical_json({**report, "totals": totals(report)})


def _cell(value: Any, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<td{attribute}>{html.escape(str(value))}</td>"


def _table(headers: list[str], rows: list[str], css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    if not rows:
        rows = [f'<tr><td colspan="{len(headers)}">None in this month.</td></tr>']
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(cells: list[str], css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<tr{attribute}>{''.join(cells)}</tr>"


def _currencies(report: dict[str, Any]) -> list[str]:
    """Return the currencies that amounts are due in, without XXX (usage without a plan)."""
    return sorted({line["currency"] for line in report["lines"]} - {UNPRICED_CURRENCY})


def _money(amount: Decimal | None) -> str:
    return "" if amount is None else str(amount)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


class _Sums:
    """Running totals of the seat-hour and amount columns of the invoice lines table.

    A line's quantity goes to one of the columns `billed`, `committed` and `adjusted`, or to
    none for usage without a plan. Its measured seat-hours go to `measured` unless the line
    adjusts an earlier month. So every column adds up to the summary figure of the same name.
    """

    def __init__(self, with_adjustments: bool) -> None:
        self.with_adjustments = with_adjustments
        self.measured = ZERO_SEAT_HOURS
        self.billed = ZERO_SEAT_HOURS
        self.committed = ZERO_SEAT_HOURS
        self.adjusted = ZERO_SEAT_HOURS
        self.amounts: dict[str, Decimal] = defaultdict(Decimal)

    def add(self, line: dict[str, Any]) -> list[str]:
        """Add one line and return its seat-hour cells, in the order of `headers`."""
        measured = Decimal(line["measured_seat_hours"])
        quantity = Decimal(line["quantity_seat_hours"])
        self.amounts[line["currency"]] += Decimal(line["amount"])
        cells = ["", "", "", ""]
        if line["adjusted_month"]:
            self.adjusted += quantity
            cells[3] = str(quantity)
            return self._trim(cells)
        self.measured += measured
        cells[0] = str(measured)
        if line["currency"] == UNPRICED_CURRENCY:
            cells[1] = "not priced"
        elif line["kind"] == LineKind.COMMITMENT:
            self.committed += quantity
            cells[2] = str(quantity)
        else:
            self.billed += quantity
            cells[1] = str(quantity)
        return self._trim(cells)

    def _trim(self, cells: list[str]) -> list[str]:
        return cells if self.with_adjustments else cells[:3]

    def headers(self) -> list[str]:
        names = [
            "Measured seat-hours",
            "Billed seat-hours",
            "Committed seat-hours",
            "Adjusted seat-hours (earlier months)",
        ]
        return self._trim(names)

    def cells(self, currencies: list[str]) -> list[str]:
        sums = [str(self.measured), str(self.billed), str(self.committed), str(self.adjusted)]
        # The empty cell is the unit price column.
        numbers = [*self._trim(sums), ""]
        amounts = [_money(self.amounts.get(currency)) for currency in currencies]
        return [_cell(value, "number") for value in numbers + amounts]


def _moment(text: str) -> str:
    """Format a report time as `2026-12-01 02:00 UTC`."""
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")


def _period(line: dict[str, Any]) -> str:
    """Describe a line's part of the month: whole days inclusive, else start and end times."""
    if line["adjusted_month"]:
        return (
            f"adjusts {line['adjusted_month']} (measured {line['measured_seat_hours']} seat-hours)"
        )
    start = datetime.fromisoformat(line["period_start"])
    end = datetime.fromisoformat(line["period_end"])
    if start.time() == end.time() == time(0):
        last_day = end - timedelta(days=1)
        return f"{start:%m-%d} to {last_day:%m-%d}"
    return f"{start:%m-%d %H:%M} to {end:%m-%d %H:%M}"


def _lines_table(report: dict[str, Any], currencies: list[str]) -> str:
    """Render the invoice lines grouped by customer, with a subtotal per customer."""
    with_adjustments = any(line["adjusted_month"] for line in report["lines"])
    grand = _Sums(with_adjustments)
    headers = [
        "Customer",
        "License",
        "Kind",
        "Period (days inclusive)",
        "Granularity (s)",
        *grand.headers(),
        "Unit price",
        *(f"Amount ({currency})" for currency in currencies),
    ]
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in report["lines"]:
        by_customer[line["customer"]].append(line)
    rows: list[str] = []
    for customer in sorted(by_customer):
        subtotal = _Sums(with_adjustments)
        for line in by_customer[customer]:
            seat_hours = subtotal.add(line)
            grand.add(line)
            amounts = [
                line["amount"] if line["currency"] == currency else "" for currency in currencies
            ]
            # Granularity rounds usage and overage only, never a commitment or an adjustment.
            rounded = line["kind"] in (LineKind.USAGE, LineKind.OVERAGE)
            cells = [
                _cell(customer),
                _cell(line["license_id"], "id"),
                _cell(line["kind"]),
                _cell(_period(line)),
                _cell(line["granularity_seconds"] if rounded else "", "number"),
                *(_cell(value, "number") for value in seat_hours),
                _cell(line["unit_price"], "number"),
                *(_cell(amount, "number") for amount in amounts),
            ]
            rows.append(_row(cells, "adjustment" if line["adjusted_month"] else ""))
        label = f"Subtotal {customer} ({_count(len(by_customer[customer]), 'line')} above)"
        subtotal_cells = [f'<td colspan="5">{html.escape(label)}</td>', *subtotal.cells(currencies)]
        rows.append(_row(subtotal_cells, "subtotal"))
    if rows:
        label = f"Total, all {_count(len(report['lines']), 'line')}"
        total_cells = [f'<td colspan="5">{html.escape(label)}</td>', *grand.cells(currencies)]
        rows.append(_row(total_cells, "total"))
    return _table(headers, rows)


def _summary_table(report: dict[str, Any], summary: dict[str, Any], currencies: list[str]) -> str:
    rows: list[list[Any]] = []
    for currency in currencies:
        rows.append(
            [
                f"Amount due ({currency})",
                summary["amounts"][currency],
                f"Total of the Amount ({currency}) column of the invoice lines",
            ]
        )
    if not currencies:
        rows.append(["Amount due", "No charges", "No invoice line of this report has a price"])
    rows += [
        [
            "Measured seat-hours",
            summary["measured_seat_hours"],
            "Seat time held in the month; total of the Licenses table",
        ],
        [
            "Billed seat-hours",
            summary["billed_seat_hours"],
            "Usage and overage lines after rounding up to the billing granularity; seat "
            "time that a commitment covers is in the committed figure instead",
        ],
        [
            "Committed seat-hours",
            summary["committed_seat_hours"],
            "Commitment lines, charged whether used or not",
        ],
    ]
    if Decimal(summary["adjusted_seat_hours"]) != 0:
        rows.append(
            [
                "Adjusted seat-hours (earlier months)",
                summary["adjusted_seat_hours"],
                "Billed seat-hours of the adjustment lines for months already closed",
            ]
        )
    if Decimal(summary["unpriced_seat_hours"]) != 0:
        rows.append(
            [
                "Seat-hours without a price plan",
                summary["unpriced_seat_hours"],
                "Measured, not charged: no plan covers this usage",
            ]
        )
    rows += [
        [
            "Highest peak concurrent seats of one license",
            summary["max_license_peak_concurrent_seats"],
            "The largest value of the Peak column of the Licenses table",
        ],
        [
            "Peak concurrent seats, all licenses together",
            summary["peak_concurrent_seats_all_licenses"],
            "Most seats in use at one moment, adding up every license in this report",
        ],
        ["Distinct devices", summary["distinct_devices"], "Counted per customer, then added"],
        ["Distinct users", summary["distinct_users"], "Counted per customer, then added"],
        ["Acquisitions", summary["acquisitions"], "Leases acquired in the month"],
        [
            "Denied acquires",
            summary["denials"],
            ", ".join(f"{code}: {n}" for code, n in summary["denials_by_reason"].items()) or "none",
        ],
    ]
    body = [
        _row([_cell(measure), _cell(value, "number"), _cell(source)])
        for measure, value, source in rows
    ]
    return _table(["Measure", "Value", "How it is computed"], body)


def _customers_table(summary: dict[str, Any], currencies: list[str]) -> str:
    names = ["measured", "billed", "committed"]
    if Decimal(summary["adjusted_seat_hours"]) != 0:
        names.append("adjusted")
    headers = [
        "Customer",
        *(f"{name.capitalize()} seat-hours" for name in names),
        *(f"Amount due ({currency})" for currency in currencies),
    ]
    rows: list[str] = []
    for customer, sums in summary["by_customer"].items():
        numbers = [
            *(sums[f"{name}_seat_hours"] for name in names),
            *(sums["amounts"].get(currency, "") for currency in currencies),
        ]
        rows.append(_row([_cell(customer), *(_cell(value, "number") for value in numbers)]))
    if rows:
        numbers = [
            *(summary[f"{name}_seat_hours"] for name in names),
            *(summary["amounts"][currency] for currency in currencies),
        ]
        label = f"Total, {_count(len(rows), 'customer')}"
        total = [_cell(label), *(_cell(n, "number") for n in numbers)]
        rows.append(_row(total, "total"))
    return _table(headers, rows)


def _licenses_table(report: dict[str, Any]) -> str:
    headers = [
        "License",
        "Customer",
        "Product",
        "Seats licensed",
        "Peak concurrent seats",
        "Measured seat-hours",
        "Time with all seats in use (share of elapsed month)",
        "Acquisitions",
        "Denied acquires",
    ]
    rows: list[str] = []
    measured = ZERO_SEAT_HOURS
    for item in report["licenses"]:
        measured += Decimal(item["seat_hours"])
        denials = ", ".join(f"{code}: {n}" for code, n in item["denials"].items()) or "none"
        cells = [
            _cell(item["license_id"], "id"),
            _cell(item["customer"]),
            _cell(item["product"]),
            _cell(item["seats"], "number"),
            _cell(item["peak_concurrent_seats"], "number"),
            _cell(item["seat_hours"], "number"),
            _cell(f"{Decimal(item['share_at_full_capacity']) * 100:.2f} %", "number"),
            _cell(item["acquisitions"], "number"),
            _cell(denials),
        ]
        rows.append(_row(cells))
    if rows:
        acquisitions = sum(item["acquisitions"] for item in report["licenses"])
        denied = sum(sum(item["denials"].values()) for item in report["licenses"])
        cells = [
            f'<td colspan="5">Total, {_count(len(rows), "license")} (peaks are per license '
            "and are not added)</td>",
            _cell(measured, "number"),
            _cell(""),
            _cell(acquisitions, "number"),
            _cell(denied, "number"),
        ]
        rows.append(_row(cells, "total"))
    return _table(headers, rows)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1f2328; background: #ffffff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 20px 0 4px; }
p { max-width: 960px; font-size: 13px; }
p.meta { color: #57606a; margin: 0 0 12px; }
p.final { border-left: 4px solid #1a7f37; padding: 6px 10px; background: #dafbe1; }
p.provisional { border-left: 4px solid #9a6700; padding: 6px 10px; background: #fff8c5;
  font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
th { background: #f6f8fa; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.id { font-family: ui-monospace, monospace; font-size: 12px; }
tr.subtotal td { background: #f6f8fa; font-weight: 600; }
tr.total td { background: #eaeef2; font-weight: 700; }
tr.adjustment td { font-style: italic; }
svg { display: block; margin: 8px 0; }
"""

_RULES = (
    "How to read the figures: measured seat-hours are the time seats were held, in hours with "
    "6 decimals. Billed seat-hours round each usage or overage line's measured time up to a "
    "whole multiple of its plan's billing granularity (column Granularity) before converting "
    "it to hours, so they can exceed the measured figure. A line's amount is its billed or "
    "committed seat-hours times the unit price, rounded to the currency's minor unit with the "
    "plan's rounding mode, and every subtotal and total is the sum of the rows it names, kept "
    "apart per currency."
)


def _status_paragraph(report: dict[str, Any]) -> str:
    if report["status"] == "closed":
        text = (
            f"Final: {report['month']} was closed at {_moment(report['closed_at'])} and this "
            "report is "
            "frozen. Usage recorded later appears as adjustments in the next open month."
        )
        return f'<p class="final">{html.escape(text)}</p>'
    text = (
        f"Provisional, not final: {report['month']} is still open. Figures are as of "
        f"{_moment(report['as_of'])} and can change until the month is closed with "
        f"`billing close --month {report['month']}`."
    )
    return f'<p class="provisional">{html.escape(text)}</p>'


def render_html(report: dict[str, Any]) -> str:
    """Return a standalone HTML page: no scripts, no external styles, fonts or images."""
    summary = totals(report)
    currencies = _currencies(report)
    scope = f" for customer {report['customer']}" if "customer" in report else ", all customers"
    title = f"Usage report {report['month']}{scope}"
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            '<p class="meta">All times are UTC. Seat-hours are seats times hours.</p>',
            _status_paragraph(report),
            f"<p>{html.escape(_RULES)}</p>",
            "<h2>Summary</h2>",
            _summary_table(report, summary, currencies),
            "<h2>Amount due by customer</h2>",
            _customers_table(summary, currencies),
            "<h2>Usage over the month</h2>",
            f'<p class="meta">Blue line ({SEATS_COLOUR}): seats in use. Red bars '
            f"({DENIALS_COLOUR}): acquires denied on that day.</p>",
            seats_chart(report),
            denials_chart(report),
            "<h2>Invoice lines</h2>",
            _lines_table(report, currencies),
            "<h2>Licenses</h2>",
            _licenses_table(report),
            "</body></html>\n",
        ]
    )


def render(report: dict[str, Any], output_format: str) -> str:
    if output_format == "csv":
        return render_csv(report)
    if output_format == "json":
        return render_json(report)
    if output_format == "html":
        return render_html(report)
    raise ValueError(f"Unknown report format {output_format!r}; expected csv, json or html.")
