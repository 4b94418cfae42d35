"""The OpenAPI 3.1 document of the API, built from the pydantic models it validates with."""

from __future__ import annotations

import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from functions.errors import ProblemCode, problem_status
from functions.schemas import (
    AcquireRequest,
    AcquireResponse,
    HealthResponse,
    HeartbeatResponse,
    LeaseRequest,
    ReleaseResponse,
)

_REF = "#/components/schemas/{model}"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details with a stable `code`.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "enum": [code.value for code in ProblemCode]},
        "seats_used": {"type": "integer"},
        "seats_total": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

_BODY_PROBLEMS = (
    ProblemCode.MISSING_BODY,
    ProblemCode.PAYLOAD_TOO_LARGE,
    ProblemCode.UNSUPPORTED_MEDIA_TYPE,
    ProblemCode.VALIDATION_FAILED,
)


def _problems(*codes: ProblemCode) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(problem_status(code), []).append(code.value)
    return {
        str(status): {
            "description": "Codes: " + ", ".join(sorted(values)),
            "content": {
                "application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}
            },
        }
        for status, values in sorted(by_status.items())
    }


def _post(summary: str, request: str, response: str, *codes: ProblemCode) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=request)}}},
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": _REF.format(model=response)}}
                    },
                },
                **_problems(*_BODY_PROBLEMS, ProblemCode.INVALID_JSON, *codes),
            },
        }
    }


def _get(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": schema}}}
            },
        }
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [
            (model, "validation" if model in (AcquireRequest, LeaseRequest) else "serialization")
            for model in (
                AcquireRequest,
                LeaseRequest,
                AcquireResponse,
                HeartbeatResponse,
                ReleaseResponse,
                HealthResponse,
            )
        ],
        ref_template=_REF,
    )
    components = dict(schemas.get("$defs", {}))
    components["Problem"] = _PROBLEM_SCHEMA
    license_errors = (
        ProblemCode.LICENSE_NOT_FOUND,
        ProblemCode.LICENSE_SUSPENDED,
        ProblemCode.LICENSE_REVOKED,
        ProblemCode.LICENSE_EXPIRED,
        ProblemCode.CONTENTION,
    )
    lease_errors = (
        ProblemCode.LEASE_NOT_FOUND,
        ProblemCode.LEASE_OWNER_MISMATCH,
        ProblemCode.CONTENTION,
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "Floating license API", "version": "1.0.0"},
        "paths": {
            "/api/v1/licenses/acquire": _post(
                "Acquire a seat, or renew the live lease of the same seat identity",
                "AcquireRequest",
                "AcquireResponse",
                *license_errors,
                ProblemCode.NO_SEAT_AVAILABLE,
            ),
            "/api/v1/licenses/heartbeat": _post(
                "Extend a live lease and get a fresh token",
                "LeaseRequest",
                "HeartbeatResponse",
                *lease_errors,
                ProblemCode.LEASE_EXPIRED,
                ProblemCode.LICENSE_SUSPENDED,
                ProblemCode.LICENSE_REVOKED,
                ProblemCode.LICENSE_EXPIRED,
            ),
            "/api/v1/licenses/release": _post(
                "Release a lease; releasing a closed lease succeeds",
                "LeaseRequest",
                "ReleaseResponse",
                *lease_errors,
            ),
            "/.well-known/jwks.json": _get(
                "Public keys that verify lease tokens (RFC 7517 JWK Set)", {"type": "object"}
            ),
            "/healthz": _get("Liveness check", {"$ref": _REF.format(model="HealthResponse")}),
            "/openapi.json": _get("This document", {"type": "object"}),
        },
        "components": {"schemas": components},
    }
