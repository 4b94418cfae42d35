"""Price plan versions: one version per scope and start, ISO 4217 currencies, `plans list`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.billing.plans import PlanState, plan_states
from functions.billing.records import BillingError
from tests.billing.conftest import STORE_KINDS, Billing, open_billing, open_store
from tests.billing.test_reports import run_cli

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=STORE_KINDS)
def on_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Billing]:
    store = open_store(request.param, tmp_path / "data", request)
    env = open_billing(tmp_path / "data", datetime(2026, 11, 1, tzinfo=UTC), store)
    yield env
    env.store.close()


def test_same_start_for_product_rejected(on_store: Billing) -> None:
    first = on_store.plan(DEC_1, "1.00", currency="USD")

    with pytest.raises(BillingError) as raised:
        on_store.plan(DEC_1, "2.00", currency="JPY")

    assert first.id in str(raised.value)
    assert "--effective-from" in str(raised.value)
    assert [plan.id for plan in on_store.store.list_price_plans()] == [first.id]


def test_same_start_for_license_rejected(on_store: Billing) -> None:
    created = on_store.license()
    product_plan = on_store.plan(DEC_1, "1.00")
    own = on_store.plan(DEC_1, "2.00", license_id=created.license.id)

    with pytest.raises(BillingError, match=own.id):
        on_store.plan(DEC_1, "3.00", license_id=created.license.id)
    later = on_store.plan(datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC), "4.00")

    stored = {plan.id for plan in on_store.store.list_price_plans()}
    assert stored == {product_plan.id, own.id, later.id}


def test_plan_states_per_scope(billing: Billing) -> None:
    created = billing.license()
    old = billing.plan(datetime(2026, 10, 1, tzinfo=UTC), "1.00")
    current = billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "2.00")
    scheduled = billing.plan(DEC_1, "3.00")
    own = billing.plan(datetime(2026, 10, 15, tzinfo=UTC), "5.00", license_id=created.license.id)

    states = plan_states(billing.store.list_price_plans(), datetime(2026, 11, 5, tzinfo=UTC))

    assert states[old.id] is PlanState.SUPERSEDED
    assert states[current.id] is PlanState.IN_FORCE
    assert states[scheduled.id] is PlanState.SCHEDULED
    # A license's own plan is in force for that license alongside the product's plan.
    assert states[own.id] is PlanState.IN_FORCE


def test_cli_plans_set_and_list(tmp_path: Path) -> None:
    billing = open_billing(tmp_path / "data", datetime(2026, 11, 20, tzinfo=UTC))
    billing.admin.create_product("cad")
    billing.store.close()
    data = billing.data_dir
    base = ["billing", "plans", "set", "--product", "cad", "--price-per-seat-hour", "1.50"]

    first = run_cli(data, *base, "--effective-from", "2026-11-01T00:00:00Z", "--currency", "USD")
    assert first.returncode == 0, first.stderr
    duplicate = run_cli(
        data, *base, "--effective-from", "2026-11-01T00:00:00Z", "--currency", "EUR"
    )
    invalid = run_cli(data, *base, "--effective-from", "2026-12-01T00:00:00Z", "--currency", "XYZ")
    rounding = ["--rounding", "half_even"]
    later = run_cli(
        data, *base, "--effective-from", "2027-01-01T00:00:00Z", "--currency", "EUR", *rounding
    )
    table = run_cli(data, "billing", "plans", "list")
    listed = run_cli(data, "billing", "plans", "list", "--json")

    assert duplicate.returncode == 1
    assert "already starts at 2026-11-01T00:00:00+00:00" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    assert invalid.returncode == 1
    assert "--currency 'XYZ' is not an ISO 4217" in invalid.stderr
    assert later.returncode == 0, later.stderr
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "APPLIES", "TO"]
    assert "STATE" in header
    assert "in_force" in rows[0]
    assert "scheduled" in rows[1]
    assert "half_even" in rows[1]
    plans = json.loads(listed.stdout)
    assert [plan["state"] for plan in plans] == ["in_force", "scheduled"]
    assert [plan["rounding"] for plan in plans] == ["half_up", "half_even"]
    assert [plan["currency"] for plan in plans] == ["USD", "EUR"]
