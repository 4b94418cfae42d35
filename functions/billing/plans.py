"""Setting and listing price plans: validation against the catalogue and the closed periods.

Messages name the options of `billing plans set` (`--included`, `--granularity-seconds`), because
the CLI is the only way operators set plans.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from functions.billing.currencies import currency_problem
from functions.billing.records import BillingError, CommitmentKind, MoneyRounding, PricePlan
from functions.billing.reports import latest_closed_end
from functions.identity import generate_id
from functions.store import SeatStore

# The `--rounding` values of the CLI, by rounding mode.
ROUNDING_OPTION_NAMES = {
    MoneyRounding.HALF_UP: "half_up",
    MoneyRounding.HALF_EVEN: "half_even",
    MoneyRounding.UP: "up",
    MoneyRounding.DOWN: "down",
}


class PlanState(enum.StrEnum):
    """Whether a plan version applies now, within its own scope (a product or one license)."""

    IN_FORCE = "in_force"
    # A later version of the same scope has started.
    SUPERSEDED = "superseded"
    # The version starts in the future.
    SCHEDULED = "scheduled"


# Bounds that keep every amount within the precision of the money arithmetic: a price or
# quantity above a billion is a typing mistake, not a plan.
MAX_PLAN_DECIMAL = Decimal(10) ** 9
MAX_GRANULARITY_SECONDS = 31 * 86_400


def _check_values(
    currency: str,
    price_per_seat_hour: Decimal,
    commitment: CommitmentKind,
    included_quantity: Decimal,
    overage_price_per_seat_hour: Decimal | None,
    granularity_seconds: int,
) -> None:
    problem = currency_problem(currency)
    if problem is not None:
        raise BillingError(problem)
    prices = (
        ("--price-per-seat-hour", price_per_seat_hour),
        ("--overage-price-per-seat-hour", overage_price_per_seat_hour),
        ("--included", included_quantity),
    )
    for option, value in prices:
        if value is not None and (not value.is_finite() or not 0 <= value <= MAX_PLAN_DECIMAL):
            raise BillingError(
                f"{option} must be a decimal number from 0 to {MAX_PLAN_DECIMAL}, got {value}."
            )
    if commitment is CommitmentKind.NONE and included_quantity != 0:
        raise BillingError(
            f"--included {included_quantity} needs --commitment seat_hours or seats; "
            "a plan without a commitment includes nothing."
        )
    if commitment is not CommitmentKind.NONE and included_quantity <= 0:
        raise BillingError(
            f"--commitment {commitment.value} needs --included greater than 0, "
            f"got {included_quantity}."
        )
    if commitment is CommitmentKind.SEATS and included_quantity % 1 != 0:
        raise BillingError(
            f"--commitment seats needs a whole number of seats in --included, "
            f"got {included_quantity}."
        )
    if not 1 <= granularity_seconds <= MAX_GRANULARITY_SECONDS:
        raise BillingError(
            f"--granularity-seconds must be a whole number from 1 to {MAX_GRANULARITY_SECONDS} "
            f"(31 days), got {granularity_seconds}."
        )


def _same_scope(plan: PricePlan, product_slug: str | None, license_id: str | None) -> bool:
    return plan.product_slug == product_slug and plan.license_id == license_id


def set_price_plan(
    store: SeatStore,
    now: datetime,
    *,
    product_slug: str | None,
    license_id: str | None,
    effective_from: datetime,
    currency: str,
    price_per_seat_hour: Decimal,
    commitment: CommitmentKind = CommitmentKind.NONE,
    included_quantity: Decimal = Decimal(0),
    overage_price_per_seat_hour: Decimal | None = None,
    granularity_seconds: int = 1,
    rounding: MoneyRounding = MoneyRounding.HALF_UP,
) -> PricePlan:
    """Add a plan version that applies from `effective_from` on.

    Raises `BillingError` if a value is invalid, if the product or license does not exist, if
    the same product or license already has a version starting at `effective_from`, or if
    `effective_from` falls in or before a closed period, which would change what that period
    billed.
    """
    if (product_slug is None) == (license_id is None):
        raise BillingError("A price plan applies to exactly one of --product or --license.")
    _check_values(
        currency,
        price_per_seat_hour,
        commitment,
        included_quantity,
        overage_price_per_seat_hour,
        granularity_seconds,
    )
    if product_slug is not None and store.product_by_slug(product_slug) is None:
        raise BillingError(f"No product has the slug {product_slug!r}.")
    if license_id is not None and all(lic.id != license_id for lic in store.list_licenses()):
        raise BillingError(f"No license has the id {license_id!r}.")
    closed_until = latest_closed_end(store)
    if closed_until is not None and effective_from < closed_until:
        raise BillingError(
            f"--effective-from {effective_from.isoformat()} is inside a closed period; plans can "
            f"change from {closed_until.isoformat()} on."
        )
    # NOTE: two operators setting plans at the same moment can both pass this check, because
    # the check and the insert are not one transaction.
    for existing in store.list_price_plans():
        if _same_scope(existing, product_slug, license_id) and (
            existing.effective_from == effective_from
        ):
            raise BillingError(
                f"Plan {existing.id} for {existing.applies_to} already starts at "
                f"{effective_from.isoformat()} ({existing.price_per_seat_hour} "
                f"{existing.currency} per seat-hour). Choose another --effective-from; "
                "`billing plans list` shows the existing versions."
            )
    try:
        plan = PricePlan(
            id=generate_id("plan"),
            product_slug=product_slug,
            license_id=license_id,
            effective_from=effective_from,
            currency=currency,
            price_per_seat_hour=price_per_seat_hour,
            commitment=commitment,
            included_quantity=included_quantity,
            overage_price_per_seat_hour=(
                price_per_seat_hour
                if overage_price_per_seat_hour is None
                else overage_price_per_seat_hour
            ),
            granularity_seconds=granularity_seconds,
            rounding=rounding,
            created_at=now,
        )
    except ValueError as error:
        raise BillingError(str(error)) from None
    store.insert_price_plan(plan)
    return plan


def plan_states(plans: Sequence[PricePlan], now: datetime) -> dict[str, PlanState]:
    """Return the state of every plan version at `now`, by plan id.

    `plans` must be ordered as the stores return them (by `effective_from`, then `created_at`).
    Two versions with the same scope and start can exist if they were stored before duplicates
    were rejected. Of those, the one created last is in force, as it is when reports are priced.
    """
    in_force: dict[tuple[str | None, str | None], str] = {}
    states: dict[str, PlanState] = {}
    for plan in plans:
        if plan.effective_from > now:
            states[plan.id] = PlanState.SCHEDULED
            continue
        scope = (plan.product_slug, plan.license_id)
        if scope in in_force:
            states[in_force[scope]] = PlanState.SUPERSEDED
        in_force[scope] = plan.id
        states[plan.id] = PlanState.IN_FORCE
    return states
