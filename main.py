"""functions-framework entry point.

Cloud Run runs `functions-framework --target=licenses`; every path of the service reaches
the `licenses` function, which routes it. `python main.py` serves the same function locally
on 127.0.0.1 with the embedded store and the local signing key.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import sys

import flask
import functions_framework
from functions_framework._http import create_server
from werkzeug.exceptions import HTTPException

from functions import app as app_module
from functions.admin import Admin, seed_demo
from functions.config import ConfigError
from functions.errors import ServiceUnavailable
from functions.http import handle, http_exception_response
from functions.logs import configure_logging
from functions.sweep import handle_sweep

configure_logging()


@functions_framework.http
def licenses(request: flask.Request) -> flask.Response:
    return handle(request)


@functions_framework.http
def sweep(request: flask.Request) -> flask.Response:
    """Close expired leases in bounded batches; a scheduler POSTs here periodically."""
    return handle_sweep(request)


def _install_error_handlers(app: flask.Flask) -> None:
    # functions-framework handles a few paths itself (/favicon.ico, /robots.txt) and Werkzeug
    # raises on malformed requests; both would otherwise produce HTML.
    app.register_error_handler(HTTPException, http_exception_response)


# functions-framework imports this module inside its Flask application context.
if flask.has_app_context():
    _install_error_handlers(flask.current_app)


def _print_demo_banner(host: str, port: int) -> None:
    service = app_module.service()
    created = seed_demo(Admin(service.store, service.hasher, service.clock))
    # The server process forks its workers; each builds its own service and connections.
    app_module.reset_service()
    if created is None:
        return
    body = json.dumps(
        {"license_key": created.key, "hardware_id": "demo-hw", "user_email": "demo@example.com"}
    )
    print(
        "Created the demo product and a 2-seat license. Its key is shown only now:\n"
        f"  {created.key}\n"
        "Acquire a seat with:\n"
        f"  curl -X POST http://{host}:{port}/api/v1/licenses/acquire "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}\n",
        file=sys.stderr,
        flush=True,
    )


def _port() -> int:
    raw = os.environ.get("PORT", "8080")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"PORT={raw!r} is not a TCP port; give a number from 1 to 65535.")
    return int(raw)


def serve() -> int:
    """Serve the API locally; return the exit status for a configuration error."""
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port = _port()
        _print_demo_banner(host, port)
    except (ConfigError, ServiceUnavailable) as error:
        detail = error.detail if isinstance(error, ServiceUnavailable) else str(error)
        print(f"error: {detail}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as error:
        folder = os.environ.get("LICENSE_DATA_DIR", ".license-data")
        print(
            f"error: cannot open the data folder {folder} (LICENSE_DATA_DIR): {error}",
            file=sys.stderr,
        )
        return 1
    app = functions_framework.create_app(target="licenses", source=__file__)
    print(f"Serving the license API on http://{host}:{port}", file=sys.stderr, flush=True)
    create_server(app, debug=False).run(host, port)
    return 0


if __name__ == "__main__":
    sys.exit(serve())
