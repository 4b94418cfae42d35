"""Request and response bodies of the HTTP API, validated with pydantic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_EMAIL_LENGTH = 254  # RFC 5321 limit on a forward path, less the angle brackets.


def _printable(value: str) -> str:
    if not value.strip():
        raise ValueError("Must not be blank")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("Must not contain control characters")
    return value


def _email(value: str) -> str:
    trimmed = value.strip()
    try:
        email_validator.validate_email(trimmed, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError(f"Not a valid email address: {error}") from None
    return trimmed


LicenseKey = Annotated[
    str,
    Field(min_length=1, max_length=128, description="The license key, as issued."),
    AfterValidator(_printable),
]
HardwareId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        description="A stable identifier of the client device, chosen by the client.",
    ),
    AfterValidator(_printable),
]
UserEmail = Annotated[
    str,
    Field(
        min_length=3,
        max_length=MAX_EMAIL_LENGTH,
        description="The user's email; trimmed and case-folded for seat identity.",
    ),
    AfterValidator(_email),
]
LeaseId = Annotated[
    str,
    Field(min_length=1, max_length=128, description="The lease id returned by acquire."),
    AfterValidator(_printable),
]


class _Request(BaseModel):
    # Strict: a number where a string is expected is an error, not silently converted.
    model_config = ConfigDict(extra="forbid", strict=True)


class AcquireRequest(_Request):
    license_key: LicenseKey
    hardware_id: HardwareId
    user_email: UserEmail


class LeaseRequest(_Request):
    lease_id: LeaseId
    license_key: LicenseKey
    hardware_id: HardwareId


class LeaseResponse(BaseModel):
    lease_id: str
    token: str = Field(description="Compact JWS (ES256); verify it against the JWKS.")
    expires_at: datetime = Field(description="When the lease lapses without a heartbeat (UTC).")
    heartbeat_interval_seconds: int
    lease_lifetime_seconds: int


class AcquireResponse(LeaseResponse):
    seats_used: int
    seats_total: int
    renewed: bool = Field(
        description="True when this seat identity already held a live lease, which is returned."
    )


class HeartbeatResponse(LeaseResponse):
    pass


class ReleaseResponse(BaseModel):
    lease_id: str
    released: bool
    released_at: datetime
    close_reason: str
    already_closed: bool


class HealthResponse(BaseModel):
    status: str
