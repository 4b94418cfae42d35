"""DER to JWS conversion of ECDSA signatures, including r and s shorter than 32 bytes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from functions.signing import der_to_jose
from tests.signing.fake_gcp import SHORT_COORDINATE_LIMIT


@pytest.mark.parametrize(
    ("r", "s"),
    [
        (1, 2),
        (0xFF, 1 << 255),
        (1 << 200, (1 << 256) - 1),
        ((1 << 256) - 1, 0x01_00),
    ],
)
def test_der_to_jose_left_pads(r: int, s: int) -> None:
    signature = der_to_jose(encode_dss_signature(r, s))
    assert len(signature) == 64
    assert int.from_bytes(signature[:32], "big") == r
    assert int.from_bytes(signature[32:], "big") == s


def test_der_to_jose_short_r_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    message = b"header.payload"
    # About 1 in 128 signatures has a short r or s; 20,000 attempts all missing is below 1e-60.
    for attempt in range(20_000):
        der = key.sign(message + str(attempt).encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        if r < SHORT_COORDINATE_LIMIT or s < SHORT_COORDINATE_LIMIT:
            break
    else:
        pytest.fail("No signature with a short r or s in 20,000 attempts.")
    signature = der_to_jose(der)
    assert len(signature) == 64
    padded = signature[:32] if r < SHORT_COORDINATE_LIMIT else signature[32:]
    assert padded[0] == 0
    rebuilt = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    key.public_key().verify(rebuilt, message + str(attempt).encode(), ec.ECDSA(hashes.SHA256()))


def test_der_to_jose_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        der_to_jose(b"\x30\x02\x01")
