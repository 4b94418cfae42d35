"""Local signer: a P-256 key kept in a file in the data folder, for local runs and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from functions.files import read_or_create_private_file
from functions.signing import der_to_jose, public_jwk

KEY_FILENAME = "signing-key.pem"


def _new_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LocalSigner:
    """Signs with a key created on first use and stored with owner-only permissions."""

    def __init__(self, data_dir: Path) -> None:
        pem = read_or_create_private_file(data_dir / KEY_FILENAME, _new_key_pem)
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError(
                f"{data_dir / KEY_FILENAME} does not contain a P-256 private key; "
                "delete it to have a new one created."
            )
        self._key = key
        self._jwk = public_jwk(key.public_key())

    @property
    def key_id(self) -> str:
        return self._jwk["kid"]

    def sign(self, signing_input: bytes) -> bytes:
        return der_to_jose(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}
