"""License keys, keyed hashes and seat identity.

License keys are shown once at creation and stored only as an HMAC-SHA256 under a server
secret, so a copy of the store does not reveal usable keys. Seat identities are keyed hashes
too, computed from canonical values so that trivially different spellings of one user map to
one seat.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from functions.models import SeatScope

LICENSE_KEY_PREFIX = "lk_"
# 32 random bytes give 256 bits of entropy, far beyond guessing range.
_LICENSE_KEY_BYTES = 32


def generate_license_key() -> str:
    """Return a new random license key, for example `lk_3q2x...` (46 characters)."""
    return LICENSE_KEY_PREFIX + secrets.token_urlsafe(_LICENSE_KEY_BYTES)


def generate_id(prefix: str) -> str:
    """Return a random identifier such as `lease_...` with 128 bits of entropy."""
    return f"{prefix}_{secrets.token_hex(16)}"


def canonical_email(email: str) -> str:
    """Return the form of `email` used for seat identity: trimmed and case-folded."""
    return email.strip().casefold()


def hardware_id_sha256(hardware_id: str) -> str:
    """Return the unkeyed SHA-256 of a hardware id, which clients can recompute offline."""
    return hashlib.sha256(hardware_id.encode("utf-8")).hexdigest()


class KeyHasher:
    """Keyed hashing of license keys and seat identities under one server secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError(
                f"The key-hashing secret is {len(secret)} bytes; at least 32 bytes are required."
            )
        self._secret = secret

    def _digest(self, purpose: str, value: str) -> str:
        message = purpose.encode("ascii") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def license_key_hash(self, license_key: str) -> str:
        return self._digest("license-key", license_key)

    def seat_key(self, license_id: str, scope: SeatScope, hardware_id: str, user_email: str) -> str:
        """Return the keyed hash naming one seat of a license under the license's seat scope.

        `user_email` must already be canonical.
        """
        if scope is SeatScope.DEVICE:
            identity = "device\x00" + hardware_id
        elif scope is SeatScope.USER:
            identity = "user\x00" + user_email
        else:
            identity = "device+user\x00" + hardware_id + "\x00" + user_email
        return self._digest("seat", license_id + "\x00" + identity)

    @staticmethod
    def matches(expected: str, candidate: str) -> bool:
        """Compare two strings in constant time (any Unicode, unlike `hmac.compare_digest`)."""
        return hmac.compare_digest(expected.encode("utf-8"), candidate.encode("utf-8"))
