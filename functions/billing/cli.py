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
from functions.billing.plans import ROUNDING_OPTION_NAMES, plan_states, set_price_plan
from functions.billing.pressure import DEFAULT_PRESSURE_THRESHOLD, log_seat_pressure
from functions.billing.records import BillingError, CommitmentKind, PricePlan
from functions.billing.render import render
from functions.billing.reports import (
    build_report,
    close_period,
    filter_customer,
    known_customers,
)
from functions.logs import CloudLoggingFormatter
from functions.tables import print_table

Handler = Callable[[Admin, argparse.Namespace], int]
AddCommand = Callable[[Any, str, Handler, str], argparse.ArgumentParser]

_ROUNDING_NAMES = {name: rounding for rounding, name in ROUNDING_OPTION_NAMES.items()}
# Up to this many known customers are listed when `--customer` names an unknown one.
_LISTED_CUSTOMERS = 20


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


def _pressure_threshold(value: str) -> Decimal:
    parsed = _decimal(value)
    if not Decimal(0) < parsed <= 1:
        raise argparse.ArgumentTypeError(
            f"{value} is not a share of seats: use a decimal greater than 0 and at most 1, "
            "such as 0.8 for 80 %"
        )
    return parsed


def _positive_int(value: str) -> int:
    try:
        parsed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number such as 60") from None
    if parsed < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1; use a whole number such as 60")
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


def _report_format(args: argparse.Namespace) -> str:
    """Return the output format, treating `--json` as `--format json`."""
    if args.json and args.format not in (None, "json"):
        raise BillingError(
            f"--json conflicts with --format {args.format}; give one of them, "
            "--json being short for --format json."
        )
    if args.json:
        return "json"
    return str(args.format or "csv")


def _check_customer(admin: Admin, report: dict[str, Any], customer: str) -> None:
    known = known_customers(admin.store, report)
    if customer in known:
        return
    same_but_case = [name for name in known if name.casefold() == customer.casefold()]
    if same_but_case:
        hint = f"Customer names are case-sensitive: did you mean {same_but_case[0]!r}?"
    elif not known:
        hint = "No license has a customer yet."
    elif len(known) <= _LISTED_CUSTOMERS:
        hint = "Known customers: " + ", ".join(known) + "."
    else:
        hint = "`python -m functions.cli licenses list` lists the customers of all licenses."
    raise BillingError(f"No license belongs to the customer {customer!r}. {hint}")


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise BillingError(f"--output {path} is a folder; give a file name such as {path}/r.csv.")
    if not path.parent.is_dir():
        raise BillingError(
            f"--output {path}: the folder {path.parent} does not exist; create it first or "
            "choose another path."
        )


def _cmd_report(admin: Admin, args: argparse.Namespace) -> int:
    output_format = _report_format(args)
    output = None if args.output is None else Path(args.output)
    if output is not None:
        _check_output(output)
    _log_to_stderr()
    report = build_report(admin.store, args.month, admin.clock.now())
    if args.customer is not None:
        _check_customer(admin, report, args.customer)
    report = filter_customer(report, args.customer)
    log_seat_pressure(report, args.pressure_threshold)
    text = render(report, output_format)
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        # Bytes, so that no newline translation changes the CSV line endings.
        output.write_bytes(text.encode("utf-8"))
    except OSError as error:
        raise BillingError(
            f"Cannot write the report to --output {output}: {error.strerror or error}."
        ) from None
    print(f"Wrote the {output_format} report for {args.month} to {output}.", file=sys.stderr)
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


def _plan_row(plan: PricePlan, state: str) -> dict[str, Any]:
    return {
        "id": plan.id,
        "product": plan.product_slug,
        "license_id": plan.license_id,
        "applies_to": plan.applies_to,
        "effective_from": plan.effective_from.isoformat(),
        "state": state,
        "currency": plan.currency,
        "price_per_seat_hour": str(plan.price_per_seat_hour),
        "commitment": plan.commitment.value,
        "included": str(plan.included_quantity),
        "overage_price_per_seat_hour": str(plan.overage_price_per_seat_hour),
        "granularity_seconds": plan.granularity_seconds,
        "rounding": ROUNDING_OPTION_NAMES[plan.rounding],
    }


_PLAN_TITLES = {
    "id": "ID",
    "applies_to": "APPLIES TO",
    "effective_from": "EFFECTIVE FROM",
    "state": "STATE",
    "currency": "CURRENCY",
    "price_per_seat_hour": "PRICE/SEAT-HOUR",
    "commitment": "COMMITMENT",
    "included": "INCLUDED",
    "overage_price_per_seat_hour": "OVERAGE/SEAT-HOUR",
    "granularity_seconds": "GRANULARITY S",
    "rounding": "ROUNDING",
}


def _cmd_plans_list(admin: Admin, args: argparse.Namespace) -> int:
    plans = admin.store.list_price_plans()
    states = plan_states(plans, admin.clock.now())
    rows = [_plan_row(plan, states[plan.id]) for plan in plans]
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print("(none)")
    else:
        print_table(rows, list(_PLAN_TITLES), _PLAN_TITLES)
        print(
            "STATE: in_force applies now to its product or license (a license's own plan "
            "overrides its product's); superseded was replaced by a later version; scheduled "
            "starts later."
        )
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
    sub.add_argument(
        "--format",
        choices=["csv", "json", "html"],
        help="output format (default csv; --json is short for --format json)",
    )
    sub.add_argument(
        "--customer", help="only this customer, exact and case-sensitive (default: all customers)"
    )
    sub.add_argument("--output", help="write to this file instead of stdout")
    sub.add_argument(
        "--pressure-threshold",
        type=_pressure_threshold,
        default=DEFAULT_PRESSURE_THRESHOLD,
        help="share of a license's seats, greater than 0 and at most 1, whose use logs a "
        f"billing.seat_pressure event (default {DEFAULT_PRESSURE_THRESHOLD})",
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
        type=_positive_int,
        default=1,
        help="seconds to whose multiple each invoice line's seat time is rounded up (default 1)",
    )
    sub.add_argument(
        "--rounding",
        choices=sorted(_ROUNDING_NAMES),
        default="half_up",
        help="how amounts are rounded to the currency's minor unit (default half_up)",
    )
    command(plans, "list", _cmd_plans_list, "list every price plan version and which is in force")
