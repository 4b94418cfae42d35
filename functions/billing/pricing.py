"""Pricing: which plan version applies when, and the invoice lines of one plan segment.

Money is `decimal.Decimal` throughout. Rounding happens at two fixed points only:

* the seat time of a line is rounded up to a whole multiple of the plan's granularity, and its
  quantity in seat-hours is rounded half up to 6 decimal places;
* the amount of a line (quantity times unit price) is rounded to the currency's minor unit with
  the plan's rounding mode. Totals are sums of rounded line amounts, so they match the lines.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from functions.billing.currencies import MINOR_UNITS
from functions.billing.intervals import Step, seat_seconds_above
from functions.billing.records import CommitmentKind, MoneyRounding, PricePlan, seconds_between

# ISO 4217 "no currency": the currency of usage that no price plan covers.
UNPRICED_CURRENCY = "XXX"
SEAT_HOUR_QUANTUM = Decimal("0.000001")
# Zero with the exponent of SEAT_HOUR_QUANTUM, so that a sum starting from it prints 0.000000.
ZERO_SEAT_HOURS = Decimal("0.000000")
_SECONDS_PER_HOUR = Decimal(3600)
# Enough precision that no intermediate product or quotient of a report is rounded by the context.
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


class LineKind:
    USAGE = "usage"
    COMMITMENT = "commitment"
    OVERAGE = "overage"
    ADJUSTMENT = "adjustment"


def minor_unit(currency: str) -> int:
    """Return the decimal places of `currency`'s minor unit: 0 for XXX, 2 if the code is unknown."""
    if currency == UNPRICED_CURRENCY:
        return 0
    return MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal, currency: str, rounding: MoneyRounding) -> Decimal:
    """Round `amount` to the minor unit of `currency`, for example to cents for EUR."""
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    return amount.quantize(quantum, rounding=rounding.value, context=_CONTEXT)


def billed_seconds(seconds: Decimal, granularity_seconds: int) -> Decimal:
    """Round seat time up to a whole multiple of the granularity."""
    units = (seconds / granularity_seconds).to_integral_value(
        rounding=decimal.ROUND_CEILING, context=_CONTEXT
    )
    return units * granularity_seconds


def seat_hours(seconds: Decimal) -> Decimal:
    return _CONTEXT.divide(seconds, _SECONDS_PER_HOUR).quantize(
        SEAT_HOUR_QUANTUM, rounding=decimal.ROUND_HALF_UP, context=_CONTEXT
    )


def plan_in_force(
    plans: Sequence[PricePlan], license_id: str, product_slug: str, moment: datetime
) -> PricePlan | None:
    """Return the plan version in force for a license at `moment`.

    The newest version of the license's own plans wins; without one, the newest version of its
    product's plans applies. `plans` must be ordered by `effective_from`.
    """
    own: PricePlan | None = None
    product: PricePlan | None = None
    for plan in plans:
        if plan.effective_from > moment:
            break
        if plan.license_id == license_id:
            own = plan
        elif plan.product_slug == product_slug and plan.license_id is None:
            product = plan
    return own or product


def plan_boundaries(
    plans: Sequence[PricePlan], license_id: str, product_slug: str, start: datetime, end: datetime
) -> list[datetime]:
    """Return the sorted times in `(start, end)` at which a plan version of the license begins."""
    moments = {
        plan.effective_from
        for plan in plans
        if start < plan.effective_from < end
        and (plan.license_id == license_id or plan.product_slug == product_slug)
    }
    return sorted(moments)


@dataclasses.dataclass(frozen=True)
class Segment:
    """A stretch of a month during which one plan version (or none) applies to a license."""

    start: datetime
    end: datetime
    plan: PricePlan | None
    # Measured seat time of the license inside the segment, in exact seconds.
    seat_seconds: Decimal
    # Concurrent seats of the license inside the segment.
    steps: list[Step]


@dataclasses.dataclass(frozen=True)
class PricedLine:
    kind: str
    # The measured seat time this line prices.
    seat_seconds: Decimal
    # Seat-hours charged, after granularity and quantity rounding.
    quantity: Decimal
    unit_price: Decimal
    currency: str
    amount: Decimal


def _line(
    plan: PricePlan, kind: str, seat_seconds: Decimal, quantity: Decimal, unit_price: Decimal
) -> PricedLine:
    amount = round_money(_CONTEXT.multiply(quantity, unit_price), plan.currency, plan.rounding)
    return PricedLine(kind, seat_seconds, quantity, unit_price, plan.currency, amount)


def price_segment(segment: Segment, month_seconds: Decimal) -> list[PricedLine]:
    """Return the invoice lines of one segment. A commitment is charged even without usage."""
    plan = segment.plan
    measured = segment.seat_seconds
    if plan is None:
        if measured == 0:
            return []
        return [
            PricedLine(
                LineKind.USAGE,
                measured,
                seat_hours(measured),
                Decimal(0),
                UNPRICED_CURRENCY,
                Decimal(0),
            )
        ]

    if plan.commitment is CommitmentKind.NONE:
        if measured == 0:
            return []
        quantity = seat_hours(billed_seconds(measured, plan.granularity_seconds))
        return [_line(plan, LineKind.USAGE, measured, quantity, plan.price_per_seat_hour)]

    segment_seconds = seconds_between(segment.start, segment.end)
    if plan.commitment is CommitmentKind.SEAT_HOURS:
        # A monthly commitment is prorated by the share of the month this segment covers.
        included_hours = _CONTEXT.divide(
            _CONTEXT.multiply(plan.included_quantity, segment_seconds), month_seconds
        ).quantize(SEAT_HOUR_QUANTUM, rounding=decimal.ROUND_HALF_UP, context=_CONTEXT)
        overage = max(Decimal(0), measured - included_hours * _SECONDS_PER_HOUR)
    else:
        seats = int(plan.included_quantity)
        included_hours = seat_hours(seats * segment_seconds)
        overage = seat_seconds_above(segment.steps, seats)

    committed = measured - overage
    lines = [_line(plan, LineKind.COMMITMENT, committed, included_hours, plan.price_per_seat_hour)]
    if overage > 0:
        quantity = seat_hours(billed_seconds(overage, plan.granularity_seconds))
        lines.append(
            _line(plan, LineKind.OVERAGE, overage, quantity, plan.overage_price_per_seat_hour)
        )
    return lines
