"""The license service: runs the seat logic in store transactions and signs lease tokens.

Tokens are signed after the transaction commits, so a slow signer never holds a store lock.
If signing fails, the client gets an error and no token; a retried acquire then finds the
lease that was already granted and signs again.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from functions import seats
from functions.clock import Clock
from functions.identity import KeyHasher, canonical_email, generate_id
from functions.models import Lease
from functions.signing import Signer
from functions.store import SeatStore, SeatTransaction
from functions.tokens import issue_lease_token

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LeaseGrant:
    lease: Lease
    token: str
    seats_used: int | None
    renewed: bool


@dataclasses.dataclass(frozen=True)
class LeaseRelease:
    lease: Lease
    already_closed: bool


class LicenseService:
    def __init__(
        self,
        store: SeatStore,
        signer: Signer,
        hasher: KeyHasher,
        clock: Clock,
        issuer: str,
    ) -> None:
        self.store = store
        self.signer = signer
        self.hasher = hasher
        self.clock = clock
        self.issuer = issuer

    def _token(self, lease: Lease, now: datetime) -> str:
        return issue_lease_token(lease, self.issuer, int(now.timestamp()), self.signer)

    def acquire(self, license_key: str, hardware_id: str, user_email: str) -> LeaseGrant:
        key_hash = self.hasher.license_key_hash(license_key)
        email = canonical_email(user_email)
        now = self.clock.now()
        # One id for every attempt, so that a retried denial is recorded once.
        denial_id = generate_id("denial")

        def work(tx: SeatTransaction) -> seats.Granted | seats.Denied:
            return seats.acquire(tx, self.hasher, now, key_hash, hardware_id, email, denial_id)

        outcome = self.store.run_transaction(work)
        if isinstance(outcome, seats.Denied):
            outcome.error.license_id = outcome.license_id
            raise outcome.error
        return LeaseGrant(
            outcome.lease, self._token(outcome.lease, now), outcome.seats_used, outcome.renewed
        )

    def heartbeat(self, lease_id: str, license_key: str, hardware_id: str) -> LeaseGrant:
        key_hash = self.hasher.license_key_hash(license_key)
        now = self.clock.now()

        def work(tx: SeatTransaction) -> seats.Granted | seats.Denied:
            return seats.heartbeat(tx, now, lease_id, key_hash, hardware_id)

        outcome = self.store.run_transaction(work)
        if isinstance(outcome, seats.Denied):
            outcome.error.license_id = outcome.license_id
            raise outcome.error
        return LeaseGrant(outcome.lease, self._token(outcome.lease, now), None, True)

    def release(self, lease_id: str, license_key: str, hardware_id: str) -> LeaseRelease:
        key_hash = self.hasher.license_key_hash(license_key)
        now = self.clock.now()

        def work(tx: SeatTransaction) -> seats.Released | seats.Denied:
            return seats.release(tx, now, lease_id, key_hash, hardware_id)

        outcome = self.store.run_transaction(work)
        if isinstance(outcome, seats.Denied):
            outcome.error.license_id = outcome.license_id
            raise outcome.error
        return LeaseRelease(outcome.lease, outcome.already_closed)
