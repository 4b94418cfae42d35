"""Token signing behind a small interface, so that the local key and Cloud KMS are interchangeable.

A signer signs with ES256 (ECDSA on P-256 with SHA-256) and returns the JWS form of the
signature: the fixed 64-byte concatenation r || s, each left-padded to 32 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGORITHM = "ES256"
_COORDINATE_BYTES = 32


class Signer(Protocol):
    @property
    def key_id(self) -> str:
        """Return the `kid` of the key that `sign` uses now."""
        ...

    def sign(self, signing_input: bytes) -> bytes:
        """Return the 64-byte ES256 signature of `signing_input`."""
        ...

    def jwks(self) -> dict[str, Any]:
        """Return the JWK Set of every public key whose tokens may still be live."""
        ...


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_to_jose(der_signature: bytes) -> bytes:
    """Convert a DER-encoded ECDSA signature into the 64-byte r || s form that JWS uses."""
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """Return the public JWK of a P-256 key, with an RFC 7638 thumbprint as its `kid`."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError(f"Expected a P-256 key, found curve {public_key.curve.name}.")
    numbers = public_key.public_numbers()
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": b64url(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
    }
    # RFC 7638: hash the required members in lexicographic order with no whitespace.
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
    thumbprint = b64url(hashlib.sha256(canonical).digest())
    return {**members, "kid": thumbprint, "use": "sig", "alg": ALGORITHM}
