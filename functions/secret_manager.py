"""Server secrets from Secret Manager, read once when the instance starts and kept in memory.

Each secret is read at its `latest` version, and its payload is checked against the CRC32C
that Secret Manager returns with it. A failed read stops the service from starting, and
clients get 503 until a later request builds the service again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import grpc
from google.api_core import exceptions as core_exceptions
from google.cloud import secretmanager_v1
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from functions.errors import ServiceUnavailable
from functions.gcp import (
    CALL_TIMEOUT_SECONDS,
    RETRY_AFTER_SECONDS,
    TRANSIENT_RETRY,
    crc32c,
    status_name,
)
from functions.secrets import SERVER_SECRETS

log = logging.getLogger(__name__)


class SecretIntegrityError(Exception):
    """A secret payload did not match the CRC32C sent with it."""


class SecretsUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "Server secrets are temporarily unavailable; no request was processed. "
            f"Retry after {RETRY_AFTER_SECONDS} seconds.",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )


def secret_manager_client(endpoint: str | None) -> secretmanager_v1.SecretManagerServiceClient:
    """Build a client: the Google API by default, or a local test server at `endpoint`.

    A local endpoint is reached over an insecure channel with no credentials, so configuration
    accepts only loopback addresses for it.
    """
    if endpoint is None:
        return secretmanager_v1.SecretManagerServiceClient()
    transport = SecretManagerServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
    return secretmanager_v1.SecretManagerServiceClient(transport=transport)


class SecretManagerSecrets:
    """Server secrets of one project, read at construction. `secret` makes no API call."""

    def __init__(
        self,
        client: secretmanager_v1.SecretManagerServiceClient,
        project: str,
        names: Iterable[str] = SERVER_SECRETS,
    ) -> None:
        self._values = {name: _access_latest(client, project, name) for name in names}

    def secret(self, name: str) -> bytes:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values))
            raise KeyError(f"{name!r} is not a server secret; expected one of: {known}.") from None


def _access_latest(
    client: secretmanager_v1.SecretManagerServiceClient, project: str, name: str
) -> bytes:
    version = client.secret_version_path(project, name, "latest")
    try:
        response = client.access_secret_version(
            request={"name": version}, retry=TRANSIENT_RETRY, timeout=CALL_TIMEOUT_SECONDS
        )
        return _checked_payload(client.secret_path(project, name), response)
    except core_exceptions.GoogleAPIError as error:
        log.error(
            "reading a server secret failed",
            extra={"secret": version, "grpc_status": status_name(error)},
        )
    except SecretIntegrityError as error:
        log.error("server secret rejected", extra={"secret": version, "reason": str(error)})
    raise SecretsUnavailable()


def _checked_payload(secret: str, response: secretmanager_v1.AccessSecretVersionResponse) -> bytes:
    # The reply names the concrete version that `latest` resolved to.
    if not response.name.startswith(secret + "/versions/"):
        raise SecretIntegrityError(f"The reply names {response.name!r}.")
    payload = response.payload
    # Secret Manager stores a CRC32C with every version and generates one when AddSecretVersion
    # sent none (SecretPayload in google-cloud-secret-manager 2.32.0), so a reply without it is
    # rejected.
    if "data_crc32c" not in payload:
        raise SecretIntegrityError("The reply has no payload CRC32C.")
    if payload.data_crc32c != crc32c(payload.data):
        raise SecretIntegrityError("The payload does not match its CRC32C.")
    return bytes(payload.data)
