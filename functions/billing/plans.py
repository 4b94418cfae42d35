"""Setting price plans: validation against the catalogue and the closed periods."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from functions.billing.records import BillingError, CommitmentKind, MoneyRounding, PricePlan
from functions.billing.reports import latest_closed_end
from functions.identity import generate_id
from functions.store import SeatStore


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

    Raises `BillingError` if the product or license does not exist, or if `effective_from`
    falls in or before a closed period, which would change what that period billed.
    """
    if product_slug is not None and store.product_by_slug(product_slug) is None:
        raise BillingError(f"No product has the slug {product_slug!r}.")
    if license_id is not None and all(lic.id != license_id for lic in store.list_licenses()):
        raise BillingError(f"No license has the id {license_id!r}.")
    closed_until = latest_closed_end(store)
    if closed_until is not None and effective_from < closed_until:
        raise BillingError(
            f"effective_from {effective_from.isoformat()} is inside a closed period; plans can "
            f"change from {closed_until.isoformat()} on."
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
