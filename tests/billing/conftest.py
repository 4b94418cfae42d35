"""Fixtures for the billing tests: a license service on a manual clock, and headless Chromium.

`billing` runs on the embedded store. `open_store` also opens the Firestore store on the
test emulator, for the tests that run on both stores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from functions.admin import Admin, CreatedLicense, SeatTerms
from functions.billing.plans import set_price_plan
from functions.billing.records import CommitmentKind, MoneyRounding, PricePlan
from functions.clock import ManualClock
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.signing.local import LocalSigner
from functions.store import SeatStore
from functions.store.sqlite import SqliteSeatStore
from tests.emulators import FirestoreEmulator

ISSUER = "https://licenses.test"
HEARTBEAT_SECONDS = 60
LIFETIME_SECONDS = 180
STORE_KINDS = ("embedded", "firestore")


@dataclass
class Billing:
    """A license service, its admin entry point and its store, all on one manual clock."""

    service: LicenseService
    admin: Admin
    store: SeatStore
    clock: ManualClock
    data_dir: Path

    def license(
        self, customer: str = "acme", seats: int = 2, product: str = "cad"
    ) -> CreatedLicense:
        if self.store.product_by_slug(product) is None:
            self.admin.create_product(product)
        terms = SeatTerms(
            seats=seats,
            heartbeat_interval_seconds=HEARTBEAT_SECONDS,
            lease_lifetime_seconds=LIFETIME_SECONDS,
        )
        return self.admin.create_license(product, customer, terms)

    def plan(
        self,
        effective_from: datetime,
        price: str,
        *,
        product: str | None = "cad",
        license_id: str | None = None,
        currency: str = "EUR",
        commitment: CommitmentKind = CommitmentKind.NONE,
        included: str = "0",
        overage: str | None = None,
        granularity_seconds: int = 1,
        rounding: MoneyRounding = MoneyRounding.HALF_UP,
    ) -> PricePlan:
        if product is not None and self.store.product_by_slug(product) is None:
            self.admin.create_product(product)
        return set_price_plan(
            self.store,
            self.clock.now(),
            product_slug=None if license_id else product,
            license_id=license_id,
            effective_from=effective_from,
            currency=currency,
            price_per_seat_hour=Decimal(price),
            commitment=commitment,
            included_quantity=Decimal(included),
            overage_price_per_seat_hour=None if overage is None else Decimal(overage),
            granularity_seconds=granularity_seconds,
            rounding=rounding,
        )

    def move_to(self, moment: datetime) -> None:
        """Advance the clock to `moment`, which must not be in the clock's past."""
        seconds = (moment - self.clock.now()).total_seconds()
        assert seconds >= 0, f"{moment} is before the clock's time {self.clock.now()}"
        self.clock.advance(seconds)

    def hold(self, created: CreatedLicense, hardware_id: str, seconds: int) -> str:
        """Acquire a seat and heartbeat on schedule for `seconds`, then return the lease id."""
        key = created.key
        lease_id = self.service.acquire(key, hardware_id, f"{hardware_id}@example.com").lease.id
        remaining = seconds
        while remaining > 0:
            step = min(HEARTBEAT_SECONDS, remaining)
            self.clock.advance(step)
            remaining -= step
            if remaining > 0:
                self.service.heartbeat(lease_id, key, hardware_id)
        return lease_id


def open_store(kind: str, data_dir: Path, request: pytest.FixtureRequest) -> SeatStore:
    """Open the embedded store in `data_dir`, or the Firestore store on a cleared emulator."""
    if kind == "embedded":
        data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteSeatStore(data_dir)
    from functions.store.firestore import FirestoreSeatStore

    emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
    emulator.reset()
    return FirestoreSeatStore.connect(emulator.project, "(default)")


def open_billing(data_dir: Path, start: datetime, store: SeatStore | None = None) -> Billing:
    """Open a billing environment on `store`, by default the embedded store in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    clock = ManualClock(start)
    if store is None:
        store = SqliteSeatStore(data_dir)
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    service = LicenseService(store, LocalSigner(data_dir), hasher, clock, ISSUER)
    return Billing(service, Admin(store, hasher, clock), store, clock, data_dir)


@pytest.fixture
def billing(tmp_path: Path) -> Iterator[Billing]:
    env = open_billing(tmp_path / "data", datetime(2026, 11, 1, tzinfo=UTC))
    yield env
    env.store.close()


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = _find_chromium()
    if path is None:
        message = "Chromium is not installed. Install it with `apt-get install -y chromium`."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def screenshot(chromium: str, page: Path, png: Path, profile: Path, size: tuple[int, int]) -> None:
    """Render `page` in headless Chromium, offline and with a fresh profile, into `png`."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    if result.returncode != 0 or not png.exists():
        raise AssertionError(
            f"Chromium exited with {result.returncode} and wrote no screenshot:\n"
            + result.stderr.decode(errors="replace")[-2000:]
        )
