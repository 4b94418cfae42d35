"""Monthly usage reports, closing periods, and adjustments for usage recorded after a close.

A report covers one calendar month in UTC and every customer. Filtering by customer happens on
the finished report, so a customer's figures are the same in a filtered and an unfiltered
report. Its seat time comes from two sources:

* usage records, clipped to the month, and
* leases that are still open, counted up to their last heartbeat. Whatever happens to such a
  lease later, its billable end is at or after its last heartbeat, so that part is final.

Closing a month stores its report as canonical JSON. A closed month is always reported from
that copy. Usage recorded later for a closed month, such as a lease held across the month's end
and closed afterwards, is priced by recomputing the closed month and appears as adjustment lines
(the difference from what was already billed) in the first open month after it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.billing.intervals import (
    Interval,
    add_steps,
    concurrency_steps,
    peak,
    seconds_at_or_above,
)
from functions.billing.periods import Month, clip
from functions.billing.pricing import (
    UNPRICED_CURRENCY,
    ZERO_SEAT_HOURS,
    LineKind,
    Segment,
    plan_boundaries,
    plan_in_force,
    price_segment,
    seat_hours,
)
from functions.billing.records import (
    BillingError,
    ClosedPeriod,
    CommitmentKind,
    DenialEvent,
    PeriodAlreadyClosed,
    PricePlan,
    seconds_between,
    user_email_sha256,
)
from functions.identity import hardware_id_sha256
from functions.models import License
from functions.store import SeatStore

# Format 2 added `measured_seat_hours` and `granularity_seconds` to every line, and made a
# license's `seat_hours` the sum of its lines' measured seat-hours.
REPORT_FORMAT_VERSION = 2
_SHARE_QUANTUM = Decimal("0.0001")


@dataclasses.dataclass(frozen=True)
class _SeatTime:
    """One lease's seat time inside the month."""

    lease_id: str
    license_id: str
    start: datetime
    end: datetime
    device_hash: str
    user_hash: str
    acquired_in_month: bool


def canonical_json(data: dict[str, Any]) -> str:
    """Serialize report data the same way every time, so equal data gives equal bytes."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _seat_times(store: SeatStore, month: Month) -> list[_SeatTime]:
    start, end = month.start, month.end
    seat_times: list[_SeatTime] = []
    for record in store.usage_records(start, end):
        acquired_in_month = start <= record.acquired_at < end
        part = clip(record.acquired_at, record.ended_at, start, end)
        if part is None and not acquired_in_month:
            continue
        part_start, part_end = part or (record.acquired_at, record.acquired_at)
        seat_times.append(
            _SeatTime(
                record.lease_id,
                record.license_id,
                part_start,
                part_end,
                record.device_hash,
                record.user_hash,
                acquired_in_month,
            )
        )
    for lease in store.list_open_leases():
        acquired_in_month = start <= lease.acquired_at < end
        part = clip(lease.acquired_at, lease.last_heartbeat_at, start, end)
        if part is None and not acquired_in_month:
            continue
        part_start, part_end = part or (lease.acquired_at, lease.acquired_at)
        seat_times.append(
            _SeatTime(
                lease.id,
                lease.license_id,
                part_start,
                part_end,
                hardware_id_sha256(lease.hardware_id),
                user_email_sha256(lease.user_email),
                acquired_in_month,
            )
        )
    return seat_times


def _has_commitment(plans: Sequence[PricePlan], license: License, month: Month) -> bool:
    if license.created_at >= month.end:
        return False
    boundaries = plan_boundaries(plans, license.id, license.product_slug, month.start, month.end)
    moments = [month.start, *boundaries]
    for moment in moments:
        plan = plan_in_force(plans, license.id, license.product_slug, moment)
        if plan is not None and plan.commitment is not CommitmentKind.NONE:
            return True
    return False


def _share(part: Decimal, whole: Decimal) -> str:
    if whole <= 0:
        return "0.0000"
    return str((part / whole).quantize(_SHARE_QUANTUM))


def _license_lines(
    month: Month,
    license: License,
    plans: Sequence[PricePlan],
    intervals: list[Interval],
) -> list[dict[str, Any]]:
    # Nothing is charged for the time before the license existed.
    first = max(month.start, license.created_at)
    if first >= month.end:
        first = month.start
    moments = [
        first,
        *plan_boundaries(plans, license.id, license.product_slug, first, month.end),
        month.end,
    ]
    month_seconds = seconds_between(month.start, month.end)
    lines: list[dict[str, Any]] = []
    for segment_start, segment_end in itertools.pairwise(moments):
        clipped = [
            part
            for start, end in intervals
            if (part := clip(start, end, segment_start, segment_end)) is not None
        ]
        segment = Segment(
            start=segment_start,
            end=segment_end,
            plan=plan_in_force(plans, license.id, license.product_slug, segment_start),
            seat_seconds=sum((seconds_between(s, e) for s, e in clipped), Decimal(0)),
            steps=concurrency_steps(clipped),
        )
        for priced in price_segment(segment, month_seconds):
            lines.append(
                {
                    "month": str(month),
                    "kind": priced.kind,
                    "customer": license.customer,
                    "license_id": license.id,
                    "product": license.product_slug,
                    "plan_id": segment.plan.id if segment.plan else "",
                    "period_start": _time(segment_start),
                    "period_end": _time(segment_end),
                    "adjusted_month": "",
                    "seat_seconds": str(priced.seat_seconds),
                    "measured_seat_hours": str(seat_hours(priced.seat_seconds)),
                    "granularity_seconds": segment.plan.granularity_seconds if segment.plan else "",
                    "quantity_seat_hours": str(priced.quantity),
                    "unit_price": str(priced.unit_price),
                    "currency": priced.currency,
                    "amount": str(priced.amount),
                }
            )
    return lines


def _license_summary(
    month: Month,
    license: License,
    seat_times: list[_SeatTime],
    denials: list[DenialEvent],
    observed_seconds: Decimal,
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    intervals = [(item.start, item.end) for item in seat_times]
    steps = concurrency_steps(intervals)
    seat_seconds = sum((seconds_between(s, e) for s, e in intervals), Decimal(0))
    at_full = seconds_at_or_above(steps, license.seats)
    denials_by_day = Counter(event.occurred_at.date().isoformat() for event in denials)
    return {
        "license_id": license.id,
        "customer": license.customer,
        "product": license.product_slug,
        "seats": license.seats,
        "seat_seconds": str(seat_seconds),
        # The sum of the lines, so that the license table and the invoice lines agree.
        "seat_hours": str(measured_seat_hours(lines)),
        "peak_concurrent_seats": peak(steps),
        "distinct_devices": len({item.device_hash for item in seat_times}),
        "distinct_users": len({item.user_hash for item in seat_times}),
        "acquisitions": sum(1 for item in seat_times if item.acquired_in_month),
        "denials": dict(sorted(Counter(event.code for event in denials).items())),
        "denials_by_day": dict(sorted(denials_by_day.items())),
        "seconds_at_full_capacity": str(at_full),
        "share_at_full_capacity": _share(at_full, observed_seconds),
        "concurrency": [[_time(moment), count] for moment, count in steps],
    }


def build_base_report(store: SeatStore, month: Month, now: datetime) -> dict[str, Any]:
    """Compute a month's report from the ledger as it is now, without adjustment lines."""
    licenses = {license.id: license for license in store.list_licenses()}
    plans = store.list_price_plans()
    observed_end = min(month.end, max(now, month.start))
    observed_seconds = seconds_between(month.start, observed_end)

    seat_times_by_license: dict[str, list[_SeatTime]] = defaultdict(list)
    for item in _seat_times(store, month):
        seat_times_by_license[item.license_id].append(item)
    denials_by_license: dict[str, list[DenialEvent]] = defaultdict(list)
    for event in store.denials(month.start, month.end):
        denials_by_license[event.license_id].append(event)

    license_ids = set(seat_times_by_license) | set(denials_by_license)
    license_ids |= {id for id, lic in licenses.items() if _has_commitment(plans, lic, month)}
    unknown = license_ids - set(licenses)
    if unknown:
        raise BillingError(f"The ledger names licenses that do not exist: {sorted(unknown)}.")

    summaries: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    devices: dict[str, set[str]] = defaultdict(set)
    users: dict[str, set[str]] = defaultdict(set)
    for license_id in sorted(license_ids, key=lambda id: (licenses[id].customer, id)):
        license = licenses[license_id]
        seat_times = seat_times_by_license.get(license_id, [])
        intervals = [(item.start, item.end) for item in seat_times]
        license_lines = _license_lines(month, license, plans, intervals)
        denials = denials_by_license.get(license_id, [])
        summaries.append(
            _license_summary(month, license, seat_times, denials, observed_seconds, license_lines)
        )
        lines.extend(license_lines)
        devices[license.customer].update(item.device_hash for item in seat_times)
        users[license.customer].update(item.user_hash for item in seat_times)

    return {
        "format_version": REPORT_FORMAT_VERSION,
        "month": str(month),
        "period_start": _time(month.start),
        "period_end": _time(month.end),
        "status": "open",
        "as_of": _time(now),
        "observed_seconds": str(observed_seconds),
        "licenses": summaries,
        "distinct_by_customer": {
            customer: {"devices": len(devices[customer]), "users": len(users[customer])}
            for customer in sorted(devices)
        },
        "lines": lines,
    }


def measured_seat_hours(lines: list[dict[str, Any]]) -> Decimal:
    """Sum the measured seat-hours of the lines that are not adjustments of an earlier month."""
    return sum(
        (Decimal(line["measured_seat_hours"]) for line in lines if not line["adjusted_month"]),
        ZERO_SEAT_HOURS,
    )


def is_billed_usage(line: dict[str, Any]) -> bool:
    """Tell whether a line charges seat time: usage, overage or an adjustment with a price."""
    return bool(line["kind"] != LineKind.COMMITMENT and line["currency"] != UNPRICED_CURRENCY)


@dataclasses.dataclass
class _LineTotal:
    seconds: Decimal = Decimal(0)
    billed_hours: Decimal = ZERO_SEAT_HOURS
    amount: Decimal = Decimal(0)


def _line_totals(lines: list[dict[str, Any]]) -> dict[tuple[str, str], _LineTotal]:
    """Sum measured seat time, billed seat-hours and amount per (license, currency)."""
    totals: dict[tuple[str, str], _LineTotal] = defaultdict(_LineTotal)
    for line in lines:
        total = totals[(line["license_id"], line["currency"])]
        total.seconds += Decimal(line["seat_seconds"])
        if is_billed_usage(line):
            total.billed_hours += Decimal(line["quantity_seat_hours"])
        total.amount += Decimal(line["amount"])
    return totals


def _adjustment_lines(
    store: SeatStore, month: Month, now: datetime, closed: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return the adjustments that `month` carries for the closed months just before it."""
    customers = {license.id: license for license in store.list_licenses()}
    lines: list[dict[str, Any]] = []
    earlier = month.previous()
    # Only the closed months with no open month between them and `month` adjust into it.
    while str(earlier) in closed:
        billed = [
            line for line in closed[str(earlier)]["lines"] if line["kind"] != LineKind.ADJUSTMENT
        ]
        for snapshot in closed.values():
            billed.extend(
                line
                for line in snapshot["lines"]
                if line["kind"] == LineKind.ADJUSTMENT and line["adjusted_month"] == str(earlier)
            )
        already = _line_totals(billed)
        now_due = _line_totals(build_base_report(store, earlier, now)["lines"])
        for key in sorted(set(already) | set(now_due)):
            due = now_due.get(key, _LineTotal())
            old = already.get(key, _LineTotal())
            delta_seconds = due.seconds - old.seconds
            delta_amount = due.amount - old.amount
            if delta_seconds == 0 and delta_amount == 0:
                continue
            license = customers[key[0]]
            lines.append(
                {
                    "month": str(month),
                    "kind": LineKind.ADJUSTMENT,
                    "customer": license.customer,
                    "license_id": license.id,
                    "product": license.product_slug,
                    "plan_id": "",
                    "period_start": _time(earlier.start),
                    "period_end": _time(earlier.end),
                    "adjusted_month": str(earlier),
                    "seat_seconds": str(delta_seconds),
                    "measured_seat_hours": str(seat_hours(delta_seconds)),
                    "granularity_seconds": "",
                    # The change in billed seat-hours, which is what the amount changes for.
                    "quantity_seat_hours": str(due.billed_hours - old.billed_hours),
                    "unit_price": "",
                    "currency": key[1],
                    "amount": str(delta_amount),
                }
            )
        earlier = earlier.previous()
    return lines


def _upgrade(report: dict[str, Any]) -> dict[str, Any]:
    """Bring a report closed in an earlier format to the current one, deterministically.

    Format 1 lines lack `measured_seat_hours` and `granularity_seconds`, and a license's
    `seat_hours` was computed from its total seat time instead of summed from its lines.
    """
    if report.get("format_version", 1) >= REPORT_FORMAT_VERSION:
        return report
    for line in report["lines"]:
        line.setdefault("measured_seat_hours", str(seat_hours(Decimal(line["seat_seconds"]))))
        line.setdefault("granularity_seconds", "")
    for item in report["licenses"]:
        own = [line for line in report["lines"] if line["license_id"] == item["license_id"]]
        item["seat_hours"] = str(measured_seat_hours(own))
    report["format_version"] = REPORT_FORMAT_VERSION
    return report


def closed_reports(store: SeatStore) -> dict[str, dict[str, Any]]:
    return {
        period.month: _upgrade(json.loads(period.report_json))
        for period in store.list_closed_periods()
    }


def build_report(store: SeatStore, month: Month, now: datetime) -> dict[str, Any]:
    """Return the report of a month: the frozen copy if it is closed, else computed now."""
    closed = closed_reports(store)
    if str(month) in closed:
        return closed[str(month)]
    report = build_base_report(store, month, now)
    report["lines"].extend(_adjustment_lines(store, month, now, closed))
    return report


def filter_customer(report: dict[str, Any], customer: str | None) -> dict[str, Any]:
    """Return the part of a report that concerns one customer (or all, for None)."""
    if customer is None:
        return report
    filtered = dict(report)
    filtered["customer"] = customer
    filtered["licenses"] = [item for item in report["licenses"] if item["customer"] == customer]
    filtered["lines"] = [line for line in report["lines"] if line["customer"] == customer]
    filtered["distinct_by_customer"] = {
        name: counts for name, counts in report["distinct_by_customer"].items() if name == customer
    }
    return filtered


def seat_hour_sums(lines: list[dict[str, Any]]) -> dict[str, str]:
    """Sum the seat-hours of invoice lines by what they mean.

    * `measured`: seat time held in the month, adjustments excluded.
    * `billed`: quantity of the usage and overage lines, rounded up to each plan's granularity.
    * `committed`: quantity of the commitment lines.
    * `adjusted`: billed quantity of the adjustments for earlier months.
    * `unpriced`: seat time that no plan covers.
    """
    names = ("measured", "billed", "committed", "adjusted", "unpriced")
    sums = dict.fromkeys(names, ZERO_SEAT_HOURS)
    for line in lines:
        quantity = Decimal(line["quantity_seat_hours"])
        if line["adjusted_month"]:
            sums["adjusted"] += quantity
            continue
        sums["measured"] += Decimal(line["measured_seat_hours"])
        if line["currency"] == UNPRICED_CURRENCY:
            sums["unpriced"] += quantity
        elif line["kind"] == LineKind.COMMITMENT:
            sums["committed"] += quantity
        else:
            sums["billed"] += quantity
    return {f"{name}_seat_hours": str(value) for name, value in sums.items()}


def amounts_by_currency(lines: list[dict[str, Any]]) -> dict[str, str]:
    """Sum line amounts per currency. Amounts of different currencies are never added."""
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        amounts[line["currency"]] += Decimal(line["amount"])
    return {currency: str(amounts[currency]) for currency in sorted(amounts)}


def totals(report: dict[str, Any]) -> dict[str, Any]:
    """Sum a report, filtered or not: amounts per currency and seat-hours from its lines."""
    denials: Counter[str] = Counter()
    for item in report["licenses"]:
        denials.update(item["denials"])
    seat_seconds = sum((Decimal(item["seat_seconds"]) for item in report["licenses"]), Decimal(0))
    combined = add_steps(
        [
            [(datetime.fromisoformat(moment), count) for moment, count in item["concurrency"]]
            for item in report["licenses"]
        ]
    )
    lines_by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in report["lines"]:
        lines_by_customer[line["customer"]].append(line)
    return {
        "amounts": amounts_by_currency(report["lines"]),
        "seat_seconds": str(seat_seconds),
        **seat_hour_sums(report["lines"]),
        "by_customer": {
            customer: {
                "amounts": amounts_by_currency(lines),
                **seat_hour_sums(lines),
            }
            for customer, lines in sorted(lines_by_customer.items())
        },
        "acquisitions": sum(item["acquisitions"] for item in report["licenses"]),
        "denials": sum(denials.values()),
        "denials_by_reason": dict(sorted(denials.items())),
        "distinct_devices": sum(c["devices"] for c in report["distinct_by_customer"].values()),
        "distinct_users": sum(c["users"] for c in report["distinct_by_customer"].values()),
        # The peak of the sum of all licenses' concurrent seats, not a sum of their peaks.
        "peak_concurrent_seats_all_licenses": peak(combined),
        "max_license_peak_concurrent_seats": max(
            (item["peak_concurrent_seats"] for item in report["licenses"]), default=0
        ),
    }


def known_customers(store: SeatStore, report: dict[str, Any]) -> list[str]:
    """Return the customers of every license in the store or in the report, sorted."""
    names = {license.customer for license in store.list_licenses()}
    names.update(item["customer"] for item in report["licenses"])
    return sorted(names)


def close_period(store: SeatStore, month: Month, now: datetime) -> ClosedPeriod:
    """Freeze a month that has ended: store its report, adjustments included, once."""
    if now < month.end:
        raise BillingError(
            f"The period {month} ends at {_time(month.end)}; it can be closed only after that."
        )
    if any(period.month == str(month) for period in store.list_closed_periods()):
        raise PeriodAlreadyClosed(str(month))
    report = build_report(store, month, now)
    report["status"] = "closed"
    report.pop("as_of", None)
    report["closed_at"] = _time(now)
    period = ClosedPeriod(str(month), now, canonical_json(report))
    store.insert_closed_period(period)
    return period


def latest_closed_end(store: SeatStore) -> datetime | None:
    """Return the end of the latest closed month, before which no plan may change."""
    periods = store.list_closed_periods()
    if not periods:
        return None
    return max(Month.parse(period.month) for period in periods).end
