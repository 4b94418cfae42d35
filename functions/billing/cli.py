"""The `billing` commands of the admin CLI: reports, price plans and closing periods."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from functions.admin import Admin
from functions.billing.periods import Month
from functions.billing.plans import set_price_plan
from functions.billing.pressure import DEFAULT_PRESSURE_THRESHOLD, log_seat_pressure
from functions.billing.records import BillingError, CommitmentKind, MoneyRounding
from functions.billing.render import render
from functions.billing.reports import build_report, close_period, filter_customer
from functions.logs import CloudLoggingFormatter

Handler = Callable[[Admin, argparse.Namespace], int]
AddCommand = Callable[[Any, str, Handler, str], argparse.ArgumentParser]

_ROUNDING_NAMES = {
    "half_up": MoneyRounding.HALF_UP,
    "half_even": MoneyRounding.HALF_EVEN,
    "up": MoneyRounding.UP,
    "down": MoneyRounding.DOWN,
}


def _decimal(value: str) -> Decimal:
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a decimal number such as 1.25"
        ) from None
    if not parsed.is_finite():
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite decimal number")
    return parsed


def _month(value: str) -> Month:
    try:
        return Month.parse(value)
    except BillingError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 datetime such as 2026-11-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; append Z for UTC")
    return parsed


def _log_to_stderr() -> None:
    """Send billing log events to stderr as JSON lines, keeping stdout for the report."""
    logger = logging.getLogger("functions.billing")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(CloudLoggingFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _cmd_report(admin: Admin, args: argparse.Namespace) -> int:
    _log_to_stderr()
    report = build_report(admin.store, args.month, admin.clock.now())
    log_seat_pressure(report, args.pressure_threshold)
    text = render(filter_customer(report, args.customer), args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        # Bytes, so that no newline translation changes the CSV line endings.
        Path(args.output).write_bytes(text.encode("utf-8"))
        print(f"Wrote the {args.format} report for {args.month} to {args.output}.", file=sys.stderr)
    return 0


def _cmd_plans_set(admin: Admin, args: argparse.Namespace) -> int:
    plan = set_price_plan(
        admin.store,
        admin.clock.now(),
        product_slug=args.product,
        license_id=args.license,
        effective_from=args.effective_from,
        currency=args.currency,
        price_per_seat_hour=args.price_per_seat_hour,
        commitment=CommitmentKind(args.commitment),
        included_quantity=args.included,
        overage_price_per_seat_hour=args.overage_price_per_seat_hour,
        granularity_seconds=args.granularity_seconds,
        rounding=_ROUNDING_NAMES[args.rounding],
    )
    if args.json:
        print(json.dumps({"id": plan.id, "applies_to": plan.applies_to}))
    else:
        print(
            f"Set plan {plan.id} for {plan.applies_to} from {plan.effective_from.isoformat()}: "
            f"{plan.price_per_seat_hour} {plan.currency} per seat-hour."
        )
    return 0


def _cmd_plans_list(admin: Admin, args: argparse.Namespace) -> int:
    rows = [
        {
            "id": plan.id,
            "product": plan.product_slug,
            "license_id": plan.license_id,
            "effective_from": plan.effective_from.isoformat(),
            "currency": plan.currency,
            "price_per_seat_hour": str(plan.price_per_seat_hour),
            "commitment": plan.commitment.value,
            "included_quantity": str(plan.included_quantity),
            "overage_price_per_seat_hour": str(plan.overage_price_per_seat_hour),
            "granularity_seconds": plan.granularity_seconds,
            "rounding": plan.rounding.value,
        }
        for plan in admin.store.list_price_plans()
    ]
    print(json.dumps(rows, indent=None if args.json else 2))
    return 0


def _cmd_close(admin: Admin, args: argparse.Namespace) -> int:
    period = close_period(admin.store, args.month, admin.clock.now())
    if args.json:
        print(json.dumps({"month": period.month, "closed_at": period.closed_at.isoformat()}))
    else:
        print(f"Closed {period.month}; its report is now frozen.")
    return 0


def add_billing_commands(groups: Any, command: AddCommand) -> None:
    billing = groups.add_parser("billing", help="usage reports, price plans and periods")
    commands = billing.add_subparsers(required=True)

    sub = command(commands, "report", _cmd_report, "write a monthly usage report")
    sub.add_argument("--month", type=_month, required=True, help="UTC calendar month, YYYY-MM")
    sub.add_argument("--format", choices=["csv", "json", "html"], default="csv")
    sub.add_argument("--customer", help="only this customer (default: all customers)")
    sub.add_argument("--output", help="write to this file instead of stdout")
    sub.add_argument(
        "--pressure-threshold",
        type=_decimal,
        default=DEFAULT_PRESSURE_THRESHOLD,
        help="share of a license's seats whose use logs a billing.seat_pressure event "
        f"(default {DEFAULT_PRESSURE_THRESHOLD})",
    )

    sub = command(commands, "close", _cmd_close, "close a month that has ended and freeze it")
    sub.add_argument("--month", type=_month, required=True, help="UTC calendar month, YYYY-MM")

    plans = commands.add_parser("plans", help="price plans").add_subparsers(required=True)
    sub = command(plans, "set", _cmd_plans_set, "add a price plan version")
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("--product", help="product slug the plan applies to")
    target.add_argument("--license", help="license id the plan applies to (overrides the product)")
    sub.add_argument(
        "--effective-from",
        type=_aware_datetime,
        required=True,
        help="ISO 8601 time the plan starts, e.g. 2026-11-01T00:00:00Z",
    )
    sub.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
    sub.add_argument(
        "--price-per-seat-hour",
        type=_decimal,
        required=True,
        help="price of one seat held for one hour, in --currency (of the committed quantity "
        "with a commitment)",
    )
    sub.add_argument(
        "--commitment", choices=[kind.value for kind in CommitmentKind], default="none"
    )
    sub.add_argument(
        "--included",
        type=_decimal,
        default=Decimal(0),
        help="seat-hours per month (seat_hours) or seats (seats) the commitment covers",
    )
    sub.add_argument(
        "--overage-price-per-seat-hour",
        type=_decimal,
        help="price of seat time beyond the commitment (default: the seat-hour price)",
    )
    sub.add_argument(
        "--granularity-seconds",
        type=int,
        default=1,
        help="seconds to whose multiple each invoice line's seat time is rounded up (default 1)",
    )
    sub.add_argument(
        "--rounding",
        choices=sorted(_ROUNDING_NAMES),
        default="half_up",
        help="how amounts are rounded to the currency's minor unit (default half_up)",
    )
    command(plans, "list", _cmd_plans_list, "list every price plan version")
