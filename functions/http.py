"""HTTP handling: routing, body checks, validation and problem details.

`handle` takes any request that reaches the function and always returns JSON: a result, or
an `application/problem+json` body with a stable `code`. Body checks run in a fixed order:
size (413), presence (400), media type (415), JSON syntax (400), then schema (422).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import flask
import pydantic
from werkzeug.exceptions import HTTPException

from functions import app as app_module
from functions.errors import LicenseError, ProblemCode, problem_body, problem_status
from functions.logs import current_trace, parse_trace_header
from functions.openapi import openapi_document
from functions.schemas import (
    AcquireRequest,
    AcquireResponse,
    HealthResponse,
    HeartbeatResponse,
    LeaseRequest,
    ReleaseResponse,
)
from functions.service import LeaseGrant, LicenseService

log = logging.getLogger("functions.http")

Model = TypeVar("Model", bound=pydantic.BaseModel)

MAX_BODY_BYTES = 16 * 1024
PROBLEM_JSON = "application/problem+json"

ACQUIRE_PATH = "/api/v1/licenses/acquire"
HEARTBEAT_PATH = "/api/v1/licenses/heartbeat"
RELEASE_PATH = "/api/v1/licenses/release"
JWKS_PATH = "/.well-known/jwks.json"
HEALTH_PATH = "/healthz"
OPENAPI_PATH = "/openapi.json"


class _BodyRejected(Exception):
    def __init__(self, code: ProblemCode, detail: str, extensions: dict[str, Any] | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extensions = extensions


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> flask.Response:
    response = flask.Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem_response(
    code: ProblemCode,
    detail: str,
    *,
    instance: str | None = None,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> flask.Response:
    response = flask.Response(
        json.dumps(problem_body(code, detail, instance=instance, extensions=extensions)),
        status=problem_status(code),
        content_type=PROBLEM_JSON,
    )
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _read_body(request: flask.Request) -> bytes:
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise _BodyRejected(
            ProblemCode.PAYLOAD_TOO_LARGE,
            f"The request body is {declared} bytes; the limit is {MAX_BODY_BYTES} bytes.",
        )
    # Read one byte past the limit so that a chunked body without Content-Length is caught too.
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise _BodyRejected(
            ProblemCode.PAYLOAD_TOO_LARGE,
            f"The request body exceeds the limit of {MAX_BODY_BYTES} bytes.",
        )
    return body


def _check_media_type(request: flask.Request) -> None:
    if request.mimetype != "application/json":
        found = request.mimetype or "no Content-Type"
        raise _BodyRejected(
            ProblemCode.UNSUPPORTED_MEDIA_TYPE,
            f"Expected Content-Type application/json, found {found}.",
        )
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise _BodyRejected(
            ProblemCode.UNSUPPORTED_MEDIA_TYPE,
            f"Expected a UTF-8 JSON body, found charset={charset}.",
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise _BodyRejected(
            ProblemCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {encoding} is not supported; send the JSON body uncompressed.",
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _DuplicateKey(ValueError):
    pass


class _ByteOrderMark(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins, so a body with both is ambiguous.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):
            raise _ByteOrderMark
        return json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
        )
    except _ByteOrderMark:
        raise _BodyRejected(
            ProblemCode.INVALID_JSON,
            "The request body starts with a byte order mark; send UTF-8 JSON without one.",
        ) from None
    except UnicodeDecodeError:
        raise _BodyRejected(
            ProblemCode.INVALID_JSON, "The request body is not valid UTF-8."
        ) from None
    except _DuplicateKey as error:
        raise _BodyRejected(
            ProblemCode.INVALID_JSON,
            f"The request body repeats the key {error.args[0]!r}; send each field once.",
        ) from None
    except RecursionError:
        # A few kilobytes of "[" nest deeper than the decoder's recursion limit.
        raise _BodyRejected(
            ProblemCode.INVALID_JSON, "The request body nests JSON arrays or objects too deeply."
        ) from None
    except ValueError as error:
        position = (
            f" at line {error.lineno}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise _BodyRejected(
            ProblemCode.INVALID_JSON, f"The request body is not valid JSON{position}."
        ) from None


def _field_name(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


def _validation_problem(error: pydantic.ValidationError) -> _BodyRejected:
    errors = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        field = _field_name(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "Unknown field; remove it"
        elif item["type"] == "missing":
            message = "Field required"
        message = message[:1].upper() + message[1:]
        errors.append({"field": field, "detail": message, "type": item["type"]})
    summary = "; ".join(f"{entry['field']}: {entry['detail'].rstrip('.')}" for entry in errors)
    return _BodyRejected(
        ProblemCode.VALIDATION_FAILED,
        f"Invalid request body. {summary}",
        {"errors": errors},
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _parse_request(request: flask.Request, model: type[Model]) -> Model:
    body = _read_body(request)
    if not body.strip():
        raise _BodyRejected(
            ProblemCode.MISSING_BODY,
            "The request has no body; send a JSON object with Content-Type application/json.",
        )
    _check_media_type(request)
    data = _parse_json(body)
    if not isinstance(data, dict):
        raise _BodyRejected(
            ProblemCode.VALIDATION_FAILED,
            f"The request body must be a JSON object, found {_json_type(data)}.",
            {
                "errors": [
                    {"field": "body", "detail": "Expected a JSON object.", "type": "dict_type"}
                ]
            },
        )
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise _validation_problem(error) from None


def _lease_body(grant: LeaseGrant) -> dict[str, Any]:
    lease = grant.lease
    return {
        "lease_id": lease.id,
        "token": grant.token,
        "expires_at": lease.expires_at,
        "heartbeat_interval_seconds": lease.heartbeat_interval_seconds,
        "lease_lifetime_seconds": lease.lease_lifetime_seconds,
    }


def _acquire(service: LicenseService, request: flask.Request) -> flask.Response:
    body = _parse_request(request, AcquireRequest)
    grant = service.acquire(body.license_key, body.hardware_id, body.user_email)
    seats_used = grant.seats_used if grant.seats_used is not None else 0
    response = AcquireResponse(
        **_lease_body(grant),
        seats_used=seats_used,
        seats_total=grant.lease.seats_total,
        renewed=grant.renewed,
    )
    log.info(
        "lease renewed by acquire" if grant.renewed else "lease granted",
        extra={"license_id": grant.lease.license_id, "lease_id": grant.lease.id},
    )
    return json_response(response.model_dump(mode="json"))


def _heartbeat(service: LicenseService, request: flask.Request) -> flask.Response:
    body = _parse_request(request, LeaseRequest)
    grant = service.heartbeat(body.lease_id, body.license_key, body.hardware_id)
    response = HeartbeatResponse(**_lease_body(grant))
    return json_response(response.model_dump(mode="json"))


def _release(service: LicenseService, request: flask.Request) -> flask.Response:
    body = _parse_request(request, LeaseRequest)
    result = service.release(body.lease_id, body.license_key, body.hardware_id)
    lease = result.lease
    assert lease.released_at is not None and lease.close_reason is not None
    response = ReleaseResponse(
        lease_id=lease.id,
        released=True,
        released_at=lease.released_at,
        close_reason=lease.close_reason.value,
        already_closed=result.already_closed,
    )
    if not result.already_closed:
        log.info(
            "lease released",
            extra={"license_id": lease.license_id, "lease_id": lease.id},
        )
    return json_response(response.model_dump(mode="json"))


def _jwks(service: LicenseService, request: flask.Request) -> flask.Response:
    # Clients cache the key set; five minutes keeps a rotation visible within one heartbeat.
    return json_response(service.signer.jwks(), headers={"Cache-Control": "public, max-age=300"})


def _health(service: LicenseService, request: flask.Request) -> flask.Response:
    return json_response(HealthResponse(status="ok").model_dump())


def _openapi(service: LicenseService, request: flask.Request) -> flask.Response:
    return json_response(openapi_document(), headers={"Cache-Control": "public, max-age=300"})


Handler = Callable[[LicenseService, flask.Request], flask.Response]

ROUTES: dict[str, dict[str, Handler]] = {
    ACQUIRE_PATH: {"POST": _acquire},
    HEARTBEAT_PATH: {"POST": _heartbeat},
    RELEASE_PATH: {"POST": _release},
    JWKS_PATH: {"GET": _jwks},
    HEALTH_PATH: {"GET": _health},
    OPENAPI_PATH: {"GET": _openapi},
}


def _allowed_methods(methods: dict[str, Handler]) -> str:
    allowed = set(methods) | {"OPTIONS"}
    if "GET" in methods:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def _dispatch(
    request: flask.Request, service_factory: Callable[[], LicenseService]
) -> flask.Response:
    path = request.path
    methods = ROUTES.get(path)
    if methods is None:
        detail = f"No endpoint at {path}."
        if path.rstrip("/") in ROUTES:
            detail += f" Did you mean {path.rstrip('/')} (no trailing slash)?"
        return problem_response(ProblemCode.NOT_FOUND, detail, instance=path)
    method = "GET" if request.method == "HEAD" else request.method
    if method == "OPTIONS":
        response = flask.Response(status=204)
        # A 204 has no body, so it gets no Content-Type (Flask would label it text/html).
        del response.headers["Content-Type"]
        response.headers["Allow"] = _allowed_methods(methods)
        return response
    handler = methods.get(method)
    if handler is None:
        allowed = _allowed_methods(methods)
        return problem_response(
            ProblemCode.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on {path}; use {allowed}.",
            instance=path,
            headers={"Allow": allowed},
        )
    try:
        return handler(service_factory(), request)
    except _BodyRejected as rejected:
        log.info(
            "request rejected",
            extra={"code": rejected.code.value, "path": path},
        )
        headers = (
            {"Connection": "close"} if rejected.code is ProblemCode.PAYLOAD_TOO_LARGE else None
        )
        return problem_response(
            rejected.code,
            rejected.detail,
            instance=path,
            extensions=rejected.extensions,
            headers=headers,
        )
    except LicenseError as error:
        log.info(
            "request denied",
            extra={"code": error.code.value, "path": path, "license_id": error.license_id},
        )
        headers = None
        if error.retry_after_seconds is not None:
            headers = {"Retry-After": str(error.retry_after_seconds)}
        return problem_response(
            error.code,
            error.detail,
            instance=path,
            extensions=error.extensions,
            headers=headers,
        )


def handle(
    request: flask.Request,
    service_factory: Callable[[], LicenseService] = app_module.service,
) -> flask.Response:
    """Handle one request end to end; the functions-framework target calls this."""
    token = current_trace.set(
        parse_trace_header(
            request.headers.get("X-Cloud-Trace-Context"), os.environ.get("GOOGLE_CLOUD_PROJECT")
        )
    )
    try:
        response = _dispatch(request, service_factory)
    except Exception:
        # The one place an unexpected fault is caught: log it with its stack and give the
        # client a problem with no internal detail.
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        response = problem_response(
            ProblemCode.INTERNAL_ERROR,
            "The server failed to handle this request; it has been logged.",
            instance=request.path,
        )
    finally:
        current_trace.reset(token)
    return response


def http_exception_response(error: HTTPException) -> flask.Response:
    """Render an error raised by Flask or Werkzeug itself as a problem instead of HTML."""
    status = error.code or 500
    code = {
        404: ProblemCode.NOT_FOUND,
        405: ProblemCode.METHOD_NOT_ALLOWED,
        413: ProblemCode.PAYLOAD_TOO_LARGE,
        415: ProblemCode.UNSUPPORTED_MEDIA_TYPE,
    }.get(status, ProblemCode.INVALID_JSON if status == 400 else ProblemCode.INTERNAL_ERROR)
    return problem_response(code, error.description or problem_body(code, "")["title"])
