"""The OpenAPI document served at /openapi.json."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    RELEASE,
    LicenseFactory,
    acquire_body,
    lease_body,
)

POST_PATHS = [ACQUIRE, HEARTBEAT, RELEASE]


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def component_validator(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_valid_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()


@pytest.mark.parametrize("path", POST_PATHS)
def test_lists_post_path(document: dict[str, Any], path: str) -> None:
    operation = document["paths"][path]["post"]
    assert "application/json" in operation["requestBody"]["content"]
    assert "200" in operation["responses"]


@pytest.mark.parametrize("path", POST_PATHS)
def test_lists_problems(document: dict[str, Any], path: str) -> None:
    responses = document["paths"][path]["post"]["responses"]
    for status in ("400", "413", "415", "422"):
        assert "application/problem+json" in responses[status]["content"]


def test_acquire_response_matches(
    document: dict[str, Any], client: FlaskClient, new_license: LicenseFactory
) -> None:
    created = new_license()

    body = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()

    component_validator(document, "AcquireResponse").validate(body)


def test_heartbeat_response_matches(
    document: dict[str, Any], client: FlaskClient, new_license: LicenseFactory
) -> None:
    created = new_license()
    lease_id = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()["lease_id"]

    body = client.post(HEARTBEAT, json=lease_body(lease_id, created.key)).get_json()

    component_validator(document, "HeartbeatResponse").validate(body)


def test_problem_matches(document: dict[str, Any], client: FlaskClient) -> None:
    response = client.post(ACQUIRE, json={"license_key": ""})

    component_validator(document, "Problem").validate(response.get_json())


def test_request_schema_closed(document: dict[str, Any]) -> None:
    validator = component_validator(document, "AcquireRequest")

    assert not validator.is_valid({**acquire_body("k"), "extra": 1})
    assert validator.is_valid(acquire_body("k"))
