"""Report output: CSV (one invoice line per row), JSON, and a self-contained HTML page.

Every renderer is a pure function of the report data, so a closed month, whose data is frozen,
renders to identical bytes every time.
"""

from __future__ import annotations

import csv
import html
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.billing.intervals import Step, add_steps, peak
from functions.billing.reports import canonical_json, totals

CSV_COLUMNS = (
    "month",
    "kind",
    "customer",
    "license_id",
    "product",
    "plan_id",
    "period_start",
    "period_end",
    "adjusted_month",
    "seat_seconds",
    "quantity_seat_hours",
    "unit_price",
    "currency",
    "amount",
)

# Chart geometry in CSS pixels; the screenshot test relies on the chart's colours, not its size.
CHART_WIDTH = 960
CHART_HEIGHT = 300
_MARGIN_LEFT = 48
_MARGIN_BOTTOM = 28
_MARGIN_TOP = 12
_SEATS_COLOUR = "#1f6feb"
_DENIALS_COLOUR = "#d1242f"


# Free-text columns. Spreadsheet programs evaluate a cell that starts with one of
# _FORMULA_PREFIXES as a formula, so such a value gets a leading apostrophe.
_TEXT_COLUMNS = frozenset({"customer", "license_id", "product", "plan_id"})
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def render_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for line in report["lines"]:
        row = {column: line[column] for column in CSV_COLUMNS}
        for column in _TEXT_COLUMNS:
            row[column] = _spreadsheet_safe(row[column])
        writer.writerow(row)
    return buffer.getvalue()


def render_json(report: dict[str, Any]) -> str:
    return canonical_json({**report, "totals": totals(report)})


def _combined_steps(report: dict[str, Any]) -> list[Step]:
    return add_steps(
        [
            [(datetime.fromisoformat(moment), count) for moment, count in item["concurrency"]]
            for item in report["licenses"]
        ]
    )


def _denials_by_day(report: dict[str, Any]) -> dict[str, int]:
    days: dict[str, int] = {}
    for item in report["licenses"]:
        for day, count in item["denials_by_day"].items():
            days[day] = days.get(day, 0) + count
    return days


def _chart_svg(report: dict[str, Any]) -> str:
    """Draw concurrent seats as a step line over the month, with denials per day as bars."""
    start = datetime.fromisoformat(report["period_start"])
    end = datetime.fromisoformat(report["period_end"])
    span = (end - start).total_seconds()
    steps = _combined_steps(report)
    denials = _denials_by_day(report)
    top = max(peak(steps), max(denials.values(), default=0), 1)
    plot_width = CHART_WIDTH - _MARGIN_LEFT - 8
    plot_height = CHART_HEIGHT - _MARGIN_TOP - _MARGIN_BOTTOM
    bottom = _MARGIN_TOP + plot_height

    def x(moment: datetime) -> float:
        return _MARGIN_LEFT + plot_width * (moment - start).total_seconds() / span

    def y(count: int) -> float:
        return bottom - plot_height * count / top

    parts = [
        f'<svg id="concurrency-chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}"'
        f' height="{CHART_HEIGHT}" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img"'
        ' aria-label="Concurrent seats and denials per day">',
        f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" fill="#ffffff"/>',
    ]
    for level in sorted({0, top // 2, top}):
        parts.append(
            f'<line x1="{_MARGIN_LEFT}" x2="{CHART_WIDTH - 8}" y1="{y(level):.1f}"'
            f' y2="{y(level):.1f}" stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{_MARGIN_LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end"'
            f' font-size="11" fill="#57606a">{level}</text>'
        )
    day = start
    day_width = plot_width * 86_400 / span
    while day < end:
        label = day.date().isoformat()
        count = denials.get(label, 0)
        if count:
            height = plot_height * count / top
            parts.append(
                f'<rect class="denials" x="{x(day) + 1:.1f}" y="{bottom - height:.1f}"'
                f' width="{max(day_width - 2, 1):.1f}" height="{height:.1f}"'
                f' fill="{_DENIALS_COLOUR}" fill-opacity="0.6"><title>{label}: {count} denied'
                "</title></rect>"
            )
        if day.day in (1, 8, 15, 22):
            parts.append(
                f'<text x="{x(day):.1f}" y="{CHART_HEIGHT - 8}" font-size="11"'
                f' fill="#57606a">{html.escape(label)}</text>'
            )
        day += timedelta(days=1)

    path = [f"M{x(start):.2f},{y(0):.2f}"]
    for moment, count in steps:
        path.append(f"H{x(moment):.2f}V{y(count):.2f}")
    path.append(f"H{x(end):.2f}")
    parts.append(
        f'<path class="seats" d="{"".join(path)}" fill="none" stroke="{_SEATS_COLOUR}"'
        ' stroke-width="2"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1f2328; background: #ffffff; }
h1 { font-size: 22px; margin: 0 0 4px; }
p.meta { color: #57606a; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
th { background: #f6f8fa; }
.legend span { display: inline-block; margin-right: 16px; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; }
"""


def render_html(report: dict[str, Any]) -> str:
    """Return a standalone HTML page: no scripts, no external styles, fonts or images."""
    summary = totals(report)
    scope = f" for {report['customer']}" if "customer" in report else ""
    if report["status"] == "closed":
        state = f"Closed at {report['closed_at']}; this report is frozen."
    else:
        state = f"Open; figures as of {report['as_of']}."
    amounts = ", ".join(f"{amount} {currency}" for currency, amount in summary["amounts"].items())
    summary_rows = [
        ["Seat-hours", summary["seat_hours"]],
        ["Peak concurrent seats", summary["peak_concurrent_seats"]],
        ["Distinct devices", summary["distinct_devices"]],
        ["Distinct users", summary["distinct_users"]],
        ["Acquisitions", summary["acquisitions"]],
        ["Denied acquires", summary["denials"]],
        ["Amount due", amounts or "0"],
    ]
    line_rows = [
        [
            line["kind"],
            line["customer"],
            line["license_id"],
            line["product"],
            line["adjusted_month"] or f"{line['period_start'][:10]} to {line['period_end'][:10]}",
            line["quantity_seat_hours"],
            line["unit_price"],
            f"{line['amount']} {line['currency']}",
        ]
        for line in report["lines"]
    ]
    license_rows = [
        [
            item["license_id"],
            item["customer"],
            item["product"],
            item["seats"],
            item["seat_hours"],
            item["peak_concurrent_seats"],
            f"{Decimal(item['share_at_full_capacity']) * 100:.2f} %",
            ", ".join(f"{code}: {n}" for code, n in item["denials"].items()) or "none",
        ]
        for item in report["licenses"]
    ]
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>Usage report {html.escape(report['month'] + scope)}</title>",
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>Usage report {html.escape(report['month'] + scope)}</h1>",
            f'<p class="meta">{html.escape(state)} All times are UTC.</p>',
            _chart_svg(report),
            '<p class="legend">',
            f'<span><i class="swatch" style="background:{_SEATS_COLOUR}"></i>Concurrent seats'
            "</span>",
            f'<span><i class="swatch" style="background:{_DENIALS_COLOUR}"></i>Denied acquires'
            f" per day (total {summary['denials']})</span></p>",
            "<h2>Summary</h2>",
            _table(["Measure", "Value"], summary_rows),
            "<h2>Invoice lines</h2>",
            _table(
                [
                    "Kind",
                    "Customer",
                    "License",
                    "Product",
                    "Period",
                    "Seat-hours",
                    "Unit price",
                    "Amount",
                ],
                line_rows,
            ),
            "<h2>Licenses</h2>",
            _table(
                [
                    "License",
                    "Customer",
                    "Product",
                    "Seats",
                    "Seat-hours",
                    "Peak",
                    "Time at full capacity",
                    "Denials",
                ],
                license_rows,
            ),
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
