"""SVG charts of a report: concurrent seats over the month, and denied acquires per day.

The two measures have different units, so each gets its own chart with its own labelled y-axis
and whole-number ticks.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timedelta
from typing import Any

from functions.billing.intervals import Step, add_steps, peak

# Geometry in CSS pixels. The screenshot test finds the charts by their colours.
CHART_WIDTH = 960
SEATS_HEIGHT = 260
DENIALS_HEIGHT = 150
_MARGIN_LEFT = 64
_MARGIN_RIGHT = 12
_MARGIN_TOP = 28
_MARGIN_BOTTOM = 40
SEATS_COLOUR = "#1f6feb"
DENIALS_COLOUR = "#d1242f"
_GRID_COLOUR = "#d0d7de"
_TEXT_COLOUR = "#57606a"
# Days of the month that get an x-axis label.
_LABELLED_DAYS = (1, 8, 15, 22, 29)


def combined_steps(report: dict[str, Any]) -> list[Step]:
    """Return the concurrent seats of all the report's licenses added together."""
    return add_steps(
        [
            [(datetime.fromisoformat(moment), count) for moment, count in item["concurrency"]]
            for item in report["licenses"]
        ]
    )


def denials_by_day(report: dict[str, Any]) -> dict[str, int]:
    days: dict[str, int] = {}
    for item in report["licenses"]:
        for day, count in item["denials_by_day"].items():
            days[day] = days.get(day, 0) + count
    return days


def integer_ticks(maximum: int) -> list[int]:
    """Return whole-number y-axis ticks from 0 to at least `maximum`: six ticks or fewer."""
    top = max(maximum, 1)
    # Steps of 1, 2, 5, 10, 20, 50 and so on; 10**18 covers any count of seats or denials.
    steps = (base * 10**exponent for exponent in range(19) for base in (1, 2, 5))
    step = next(size for size in steps if math.ceil(top / size) <= 5)
    return list(range(0, math.ceil(top / step) * step + 1, step))


class _Frame:
    """The plot area of one chart: maps times to x and counts to y, and draws the axes."""

    def __init__(self, report: dict[str, Any], height: int, ticks: list[int]) -> None:
        self.start = datetime.fromisoformat(report["period_start"])
        self.end = datetime.fromisoformat(report["period_end"])
        self.height = height
        self.ticks = ticks
        self.plot_width = CHART_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
        self.plot_height = height - _MARGIN_TOP - _MARGIN_BOTTOM
        self.bottom = _MARGIN_TOP + self.plot_height

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return _MARGIN_LEFT + self.plot_width * (moment - self.start).total_seconds() / span

    def y(self, count: float) -> float:
        return self.bottom - self.plot_height * count / self.ticks[-1]

    def axes(self, title: str, y_label: str, month: str) -> list[str]:
        parts = [
            f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{self.height}" fill="#ffffff"/>',
            f'<text x="{_MARGIN_LEFT}" y="16" font-size="13" font-weight="600"'
            f' fill="#1f2328">{html.escape(title)}</text>',
        ]
        for tick in self.ticks:
            parts.append(
                f'<line x1="{_MARGIN_LEFT}" x2="{CHART_WIDTH - _MARGIN_RIGHT}"'
                f' y1="{self.y(tick):.1f}" y2="{self.y(tick):.1f}" stroke="{_GRID_COLOUR}"'
                f' stroke-width="1"/><text x="{_MARGIN_LEFT - 6}" y="{self.y(tick) + 4:.1f}"'
                f' text-anchor="end" font-size="11" fill="{_TEXT_COLOUR}">{tick}</text>'
            )
        middle = _MARGIN_TOP + self.plot_height / 2
        parts.append(
            f'<text x="14" y="{middle:.1f}" font-size="11" fill="{_TEXT_COLOUR}"'
            f' text-anchor="middle" transform="rotate(-90 14 {middle:.1f})">'
            f"{html.escape(y_label)}</text>"
        )
        day = self.start
        while day < self.end:
            if day.day in _LABELLED_DAYS:
                parts.append(
                    f'<line x1="{self.x(day):.1f}" x2="{self.x(day):.1f}" y1="{self.bottom}"'
                    f' y2="{self.bottom + 4}" stroke="{_TEXT_COLOUR}"/>'
                    f'<text x="{self.x(day):.1f}" y="{self.bottom + 16}" font-size="11"'
                    f' text-anchor="middle" fill="{_TEXT_COLOUR}">{day.day}</text>'
                )
            day += timedelta(days=1)
        parts.append(
            f'<text x="{_MARGIN_LEFT + self.plot_width / 2:.1f}" y="{self.height - 6}"'
            f' font-size="11" text-anchor="middle" fill="{_TEXT_COLOUR}">'
            f"Day of {html.escape(month)} (UTC)</text>"
        )
        return parts


def _svg(element_id: str, height: int, label: str, parts: list[str]) -> str:
    return (
        f'<svg id="{element_id}" xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}"'
        f' height="{height}" viewBox="0 0 {CHART_WIDTH} {height}" role="img"'
        f' aria-label="{html.escape(label)}">' + "".join(parts) + "</svg>"
    )


def seats_chart(report: dict[str, Any]) -> str:
    """Draw the concurrent seats of all the report's licenses together as a step line."""
    steps = combined_steps(report)
    frame = _Frame(report, SEATS_HEIGHT, integer_ticks(peak(steps)))
    title = "Concurrent seats in use, all licenses in this report together"
    parts = frame.axes(title, "Seats in use", report["month"])
    path = [f"M{frame.x(frame.start):.2f},{frame.y(0):.2f}"]
    for moment, count in steps:
        path.append(f"H{frame.x(moment):.2f}V{frame.y(count):.2f}")
    path.append(f"H{frame.x(frame.end):.2f}")
    parts.append(
        f'<path class="seats" d="{"".join(path)}" fill="none" stroke="{SEATS_COLOUR}"'
        ' stroke-width="2"/>'
    )
    return _svg("concurrency-chart", SEATS_HEIGHT, title, parts)


def denials_chart(report: dict[str, Any]) -> str:
    """Draw the denied acquires of each UTC day as bars."""
    denials = denials_by_day(report)
    frame = _Frame(report, DENIALS_HEIGHT, integer_ticks(max(denials.values(), default=0)))
    title = "Denied acquires per day (UTC), all licenses in this report together"
    parts = frame.axes(title, "Denials per day", report["month"])
    day_width = frame.x(frame.start + timedelta(days=1)) - frame.x(frame.start)
    day = frame.start
    while day < frame.end:
        label = day.date().isoformat()
        count = denials.get(label, 0)
        if count:
            height = frame.bottom - frame.y(count)
            parts.append(
                f'<rect class="denials" x="{frame.x(day) + 1:.1f}" y="{frame.y(count):.1f}"'
                f' width="{max(day_width - 2, 1):.1f}" height="{height:.1f}"'
                f' fill="{DENIALS_COLOUR}" fill-opacity="0.6">'
                f"<title>{label}: {count} denied</title></rect>"
            )
        day += timedelta(days=1)
    return _svg("denials-chart", DENIALS_HEIGHT, title, parts)
