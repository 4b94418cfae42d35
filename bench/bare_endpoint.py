"""The baseline for the benchmark: a functions-framework function that does almost nothing.

It reads the JSON body and returns a small JSON object, so its cost is that of
functions-framework, Flask and gunicorn alone. The benchmark serves it with the same
server settings as the license API and compares the two.
"""

from __future__ import annotations

import flask
import functions_framework


@functions_framework.http
def bare(request: flask.Request) -> flask.Response:
    body = request.get_json(silent=True)
    fields = len(body) if isinstance(body, dict) else 0
    response = flask.jsonify(ok=True, fields=fields)
    response.headers["Cache-Control"] = "no-store"
    return response
