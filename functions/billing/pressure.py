"""Seat pressure: how close each license came to its seat cap, and a log event for alerting.

A license is under pressure in a month when its peak concurrent seats reached the threshold
share of its seats (80 % by default, rounded up to whole seats). Each such license produces one
WARNING log line with `event` set to `billing.seat_pressure`, which a log-based metric or alert
policy can match.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.billing.intervals import seconds_at_or_above

log = logging.getLogger(__name__)

DEFAULT_PRESSURE_THRESHOLD = Decimal("0.8")
SEAT_PRESSURE_EVENT = "billing.seat_pressure"


@dataclasses.dataclass(frozen=True)
class SeatPressure:
    month: str
    license_id: str
    customer: str
    seats: int
    peak_concurrent_seats: int
    # Seats that count as pressure: the threshold share of `seats`, rounded up.
    pressure_seats: int
    share_at_full_capacity: Decimal
    share_at_pressure: Decimal

    @property
    def above_threshold(self) -> bool:
        return self.peak_concurrent_seats >= self.pressure_seats


def pressure_seats(seats: int, threshold: Decimal) -> int:
    return max(1, math.ceil(threshold * seats))


def seat_pressure(report: dict[str, Any], threshold: Decimal) -> list[SeatPressure]:
    """Return the seat pressure of every license in a month's report."""
    if not Decimal(0) < threshold <= 1:
        raise ValueError(f"The seat-pressure threshold must be in (0, 1], got {threshold}.")
    observed = Decimal(report["observed_seconds"])
    results: list[SeatPressure] = []
    for item in report["licenses"]:
        steps = [(datetime.fromisoformat(moment), count) for moment, count in item["concurrency"]]
        level = pressure_seats(item["seats"], threshold)
        at_level = seconds_at_or_above(steps, level)
        results.append(
            SeatPressure(
                month=report["month"],
                license_id=item["license_id"],
                customer=item["customer"],
                seats=item["seats"],
                peak_concurrent_seats=item["peak_concurrent_seats"],
                pressure_seats=level,
                share_at_full_capacity=Decimal(item["share_at_full_capacity"]),
                share_at_pressure=(at_level / observed).quantize(Decimal("0.0001"))
                if observed > 0
                else Decimal(0),
            )
        )
    return results


def log_seat_pressure(report: dict[str, Any], threshold: Decimal) -> list[SeatPressure]:
    """Log one `billing.seat_pressure` event per license at or above the threshold; return them."""
    alerts = [item for item in seat_pressure(report, threshold) if item.above_threshold]
    for item in alerts:
        log.warning(
            "License %s reached %d of %d seats in %s",
            item.license_id,
            item.peak_concurrent_seats,
            item.seats,
            item.month,
            extra={
                "event": SEAT_PRESSURE_EVENT,
                "month": item.month,
                "license_id": item.license_id,
                "customer": item.customer,
                "seats": item.seats,
                "peak_concurrent_seats": item.peak_concurrent_seats,
                "pressure_seats": item.pressure_seats,
                "threshold": str(threshold),
                "share_at_full_capacity": str(item.share_at_full_capacity),
                "share_at_pressure": str(item.share_at_pressure),
            },
        )
    return alerts
