"""The README's first run: `python main.py` on an empty data folder, then its printed curl."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable, Iterator

import jwt
import pytest
import requests

from tests.conftest import ISSUER
from tests.core.conftest import (
    JWKS,
    PRODUCT,
    ServerProcess,
    require_tool,
    start_server_process,
)

CURL_TIMEOUT_SECONDS = 30


def printed_curl(stderr: str) -> str:
    [command] = [line.strip() for line in stderr.splitlines() if line.strip().startswith("curl ")]
    return command


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("readme")
    server = start_server_process(root / "empty-data", root / "logs")
    yield server
    server.stop()


def test_prints_key(first_run: ServerProcess) -> None:
    stderr = first_run.stderr()

    assert "lk_" in stderr
    assert f"http://127.0.0.1:{first_run.port}/api/v1/licenses/acquire" in printed_curl(stderr)


def test_printed_curl_gets_seat(first_run: ServerProcess) -> None:
    curl = require_tool("curl")
    command = shlex.split(printed_curl(first_run.stderr()))
    assert command[0] == "curl"

    result = subprocess.run(
        [curl, *command[1:]],
        capture_output=True,
        text=True,
        timeout=CURL_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["seats_used"] == 1
    assert body["seats_total"] == 2
    signing_key = jwt.PyJWKClient(first_run.url + JWKS).get_signing_key_from_jwt(body["token"])
    claims = jwt.decode(
        body["token"], signing_key, algorithms=["ES256"], audience=PRODUCT, issuer=ISSUER
    )
    assert claims["jti"] == body["lease_id"]


def test_seeded_folder_prints_no_key(
    first_run: ServerProcess, server_factory: Callable[..., ServerProcess]
) -> None:
    second = server_factory(first_run.data_dir)

    assert "lk_" not in second.stderr()
    assert requests.get(second.url + "/healthz", timeout=5).json() == {"status": "ok"}
