"""License lease tokens: compact JWS (ES256) that clients verify offline against the JWKS."""

from __future__ import annotations

import json
from typing import Any

from functions.identity import hardware_id_sha256
from functions.models import Lease
from functions.signing import ALGORITHM, Signer, b64url

# Explicit typing (RFC 8725, section 3.11) so that a lease token cannot be mistaken for
# another kind of JWT signed by the same key.
TOKEN_MEDIA_TYPE = "license-lease+jwt"  # noqa: S105 (a media type)
TOKEN_TYPE_CLAIM = "license_lease"  # noqa: S105 (a claim value)


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def lease_claims(lease: Lease, issuer: str, issued_at: int) -> dict[str, Any]:
    return {
        "iss": issuer,
        "sub": lease.license_id,
        "aud": lease.product_slug,
        "jti": lease.id,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": int(lease.expires_at.timestamp()),
        "typ": TOKEN_TYPE_CLAIM,
        "hardware_id_sha256": hardware_id_sha256(lease.hardware_id),
        "seats": lease.seats_total,
        "heartbeat_interval_seconds": lease.heartbeat_interval_seconds,
    }


def issue_lease_token(lease: Lease, issuer: str, issued_at: int, signer: Signer) -> str:
    """Return a signed token for `lease`; `issued_at` is the server time in Unix seconds."""
    header = {"alg": ALGORITHM, "kid": signer.key_id, "typ": TOKEN_MEDIA_TYPE}
    signing_input = _segment(header) + "." + _segment(lease_claims(lease, issuer, issued_at))
    signature = signer.sign(signing_input.encode("ascii"))
    if len(signature) != 64:
        raise ValueError(f"ES256 signatures are 64 bytes; the signer returned {len(signature)}.")
    return signing_input + "." + b64url(signature)
