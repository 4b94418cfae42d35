"""Call settings and helpers shared by the Cloud KMS and Secret Manager clients."""

from __future__ import annotations

import google_crc32c
from google.api_core import exceptions as core_exceptions
from google.api_core import retry as retries

# Seconds a client is asked to wait (Retry-After) when KMS or Secret Manager failed.
RETRY_AFTER_SECONDS = 5
# Deadline of one attempt of any call.
CALL_TIMEOUT_SECONDS = 5.0
# UNAVAILABLE is retried for at most 1 s in total, so a client waits a little and then gets
# 503 with Retry-After rather than hanging. RESOURCE_EXHAUSTED is not retried here, because a
# quota needs the longer back-off that Retry-After requests from the client.
TRANSIENT_RETRY = retries.Retry(
    predicate=retries.if_exception_type(core_exceptions.ServiceUnavailable),
    initial=0.1,
    maximum=0.4,
    multiplier=2.0,
    timeout=1.0,
)


def crc32c(data: bytes) -> int:
    """Return the CRC32C (Castagnoli) checksum that the Google APIs use for integrity fields."""
    return int(google_crc32c.value(data))


def status_name(error: core_exceptions.GoogleAPIError) -> str:
    """Return the gRPC status of a failed call (for logs), looking through a retry timeout."""
    if isinstance(error, core_exceptions.RetryError) and error.cause is not None:
        error = error.cause
    if isinstance(error, core_exceptions.GoogleAPICallError) and error.grpc_status_code:
        return str(error.grpc_status_code.name)
    return type(error).__name__
