"""The error family of the license API and its mapping to RFC 9457 problem details.

Every failure a client can see is a `LicenseError` with a stable `ProblemCode`. The HTTP
layer turns it into `application/problem+json` in one place (`problem_body`), so the
status, title and code of each failure are defined here and nowhere else.
"""

from __future__ import annotations

import enum
from typing import Any


class ProblemCode(enum.StrEnum):
    """Stable machine-readable codes sent in the `code` member of every problem."""

    INVALID_JSON = "invalid_json"
    MISSING_BODY = "missing_body"
    VALIDATION_FAILED = "validation_failed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    LICENSE_NOT_FOUND = "license_not_found"
    LICENSE_SUSPENDED = "license_suspended"
    LICENSE_REVOKED = "license_revoked"
    LICENSE_EXPIRED = "license_expired"
    LEASE_NOT_FOUND = "lease_not_found"
    LEASE_OWNER_MISMATCH = "lease_owner_mismatch"
    LEASE_EXPIRED = "lease_expired"
    NO_SEAT_AVAILABLE = "no_seat_available"
    CONTENTION = "contention"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


# Status and title per code. A title is the same for every occurrence of a code (RFC 9457,
# section 3.1.3); the per-occurrence explanation goes into `detail`.
_PROBLEM_TYPES: dict[ProblemCode, tuple[int, str]] = {
    ProblemCode.INVALID_JSON: (400, "Request body is not valid JSON"),
    ProblemCode.MISSING_BODY: (400, "Request body is missing"),
    ProblemCode.VALIDATION_FAILED: (422, "Request body failed validation"),
    ProblemCode.UNSUPPORTED_MEDIA_TYPE: (415, "Unsupported media type"),
    ProblemCode.PAYLOAD_TOO_LARGE: (413, "Request body too large"),
    ProblemCode.NOT_FOUND: (404, "Not found"),
    ProblemCode.METHOD_NOT_ALLOWED: (405, "Method not allowed"),
    ProblemCode.LICENSE_NOT_FOUND: (404, "License not found"),
    ProblemCode.LICENSE_SUSPENDED: (403, "License suspended"),
    ProblemCode.LICENSE_REVOKED: (403, "License revoked"),
    ProblemCode.LICENSE_EXPIRED: (403, "License expired"),
    ProblemCode.LEASE_NOT_FOUND: (404, "Lease not found"),
    ProblemCode.LEASE_OWNER_MISMATCH: (403, "Lease belongs to another license or device"),
    ProblemCode.LEASE_EXPIRED: (409, "Lease expired"),
    ProblemCode.NO_SEAT_AVAILABLE: (409, "No seat available"),
    ProblemCode.CONTENTION: (503, "Too much contention on this license"),
    ProblemCode.SERVICE_UNAVAILABLE: (503, "Service temporarily unavailable"),
    ProblemCode.INTERNAL_ERROR: (500, "Internal error"),
}

PROBLEM_TYPE_BASE = "https://licenses.coditect.ai/problems/"


def problem_status(code: ProblemCode) -> int:
    """Return the HTTP status sent with `code`."""
    return _PROBLEM_TYPES[code][0]


def problem_title(code: ProblemCode) -> str:
    """Return the fixed title sent with `code`."""
    return _PROBLEM_TYPES[code][1]


class LicenseError(Exception):
    """A failure that a client sees as one problem details object.

    `extensions` become extra members of the problem (for example `seats_used`); they must
    never contain secrets, license keys or internal exception text.
    """

    def __init__(
        self,
        code: ProblemCode,
        detail: str,
        *,
        extensions: dict[str, Any] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extensions = extensions or {}
        self.retry_after_seconds = retry_after_seconds
        # For logs only; never sent to the client.
        self.license_id: str | None = None

    @property
    def status(self) -> int:
        return problem_status(self.code)


class NoSeatAvailable(LicenseError):
    """Every seat of the license is held by a live lease."""

    def __init__(self, seats_used: int, seats_total: int) -> None:
        super().__init__(
            ProblemCode.NO_SEAT_AVAILABLE,
            f"All seats of this license are in use ({seats_used} of {seats_total}); retry "
            "after a seat is released or its lease expires.",
            extensions={"seats_used": seats_used, "seats_total": seats_total},
        )


class StoreContention(LicenseError):
    """A store transaction kept conflicting with concurrent ones until attempts ran out."""

    def __init__(self, attempts: int, retry_after_seconds: int = 1) -> None:
        super().__init__(
            ProblemCode.CONTENTION,
            f"The request conflicted with concurrent requests {attempts} times; retry shortly.",
            retry_after_seconds=retry_after_seconds,
        )


class ServiceUnavailable(LicenseError):
    """A dependency (store, signer, secrets) is unavailable; nothing was issued."""

    def __init__(self, detail: str, retry_after_seconds: int = 5) -> None:
        super().__init__(
            ProblemCode.SERVICE_UNAVAILABLE, detail, retry_after_seconds=retry_after_seconds
        )


def problem_body(
    code: ProblemCode,
    detail: str,
    *,
    instance: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an RFC 9457 problem details object with the stable `code` member."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.value,
        "title": problem_title(code),
        "status": problem_status(code),
        "detail": detail,
        "code": code.value,
    }
    if instance is not None:
        body["instance"] = instance
    if extensions:
        body.update(extensions)
    return body
