"""The `sweep` functions-framework target, on each store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import flask
import functions_framework
import pytest

from functions import app as app_module
from functions.admin import Admin, SeatTerms
from functions.billing.pressure import SEAT_PRESSURE_EVENT
from functions.clock import ManualClock
from functions.service import LicenseService
from functions.sweep import check_seat_pressure, handle_sweep, sweep_expired
from tests.conftest import REPO_ROOT
from tests.store.conftest import assert_counters_match_leases


def test_sweep_post_returns_counts(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    admin.create_product("cad")
    created = admin.create_license("cad", "acme", SeatTerms(3, 60, 120))
    for number in range(2):
        service.acquire(created.key, f"hw-{number}", "user@example.com")
    clock.advance(121)
    app = flask.Flask(__name__)
    with app.test_request_context("/", method="POST"):
        response = handle_sweep(flask.request, lambda: service)
    assert response.status_code == 200
    assert response.get_json() == {
        "found": 2,
        "closed": 2,
        "skipped": 0,
        "batches": 1,
        "complete": True,
        "licenses_checked": 1,
        "licenses_under_pressure": 0,
    }
    assert service.store.list_open_leases(created.license.id) == []
    assert_counters_match_leases(service.store, created.license.id)


def test_sweep_logs_seat_pressure(
    service: LicenseService,
    admin: Admin,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin.create_product("cad")
    busy = admin.create_license("cad", "acme", SeatTerms(5, 60, 120))
    quiet = admin.create_license("cad", "acme", SeatTerms(5, 60, 120))
    # One lease of the quiet license expires before the sweep and stops counting.
    service.acquire(quiet.key, "hw-old", "user@example.com")
    clock.advance(100)
    for number in range(4):
        service.acquire(busy.key, f"hw-{number}", "user@example.com")
    for number in range(3):
        service.acquire(quiet.key, f"hw-{number}", "user@example.com")
    clock.advance(30)

    with caplog.at_level(logging.WARNING, logger="functions.sweep"):
        sweep_expired(service.store, service.clock)
        pressure = check_seat_pressure(service.store, Decimal("0.8"))

    events = [record for record in caplog.records if getattr(record, "event", None)]
    assert pressure.licenses_checked == 2
    assert pressure.licenses_under_pressure == 1
    assert [record.license_id for record in events] == [busy.license.id]  # type: ignore[attr-defined]
    assert events[0].seats_in_use == 4  # type: ignore[attr-defined]
    assert events[0].event == SEAT_PRESSURE_EVENT  # type: ignore[attr-defined]


def test_sweep_get_is_405(service: LicenseService) -> None:
    app = flask.Flask(__name__)
    with app.test_request_context("/", method="GET"):
        response = handle_sweep(flask.request, lambda: service)
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert response.headers["Allow"] == "POST"
    assert response.get_json()["code"] == "method_not_allowed"


@pytest.fixture
def embedded_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[None]:
    monkeypatch.setenv("LICENSE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LICENSE_STORE", "embedded")
    app_module.reset_service()
    yield
    app_module.reset_service()


@pytest.mark.usefixtures("embedded_env")
def test_sweep_target_in_main() -> None:
    app = functions_framework.create_app(target="sweep", source=str(REPO_ROOT / "main.py"))
    response = app.test_client().post("/")
    assert response.status_code == 200
    assert response.get_json()["complete"] is True
