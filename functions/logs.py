"""Structured JSON logs on stdout in the shape Cloud Logging reads.

Each line has `severity`, `message`, `time` and, during a request, the trace from the
`X-Cloud-Trace-Context` header under `logging.googleapis.com/trace`. Extra fields passed
with `extra=` (license_id, lease_id, code, ...) are added as top-level members.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_TRACE_KEY = "logging.googleapis.com/trace"
_SPAN_KEY = "logging.googleapis.com/spanId"

current_trace: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar(
    "current_trace", default=None
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def parse_trace_header(header: str | None, project: str | None) -> tuple[str, str | None] | None:
    """Parse `TRACE_ID/SPAN_ID;o=OPTIONS` into the trace resource name and the span id."""
    if not header:
        return None
    trace_id, _, rest = header.partition("/")
    trace_id = trace_id.strip()
    if not trace_id or len(trace_id) > 64 or not trace_id.isalnum():
        return None
    span = rest.partition(";")[0].strip() or None
    if span is not None and not span.isdigit():
        span = None
    name = f"projects/{project}/traces/{trace_id}" if project else trace_id
    return name, span


class CloudLoggingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        trace = current_trace.get()
        if trace is not None:
            entry[_TRACE_KEY] = trace[0]
            if trace[1] is not None:
                entry[_SPAN_KEY] = trace[1]
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send this package's logs to stdout as JSON lines; safe to call more than once."""
    logger = logging.getLogger("functions")
    if any(getattr(handler, "_license_api", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    handler._license_api = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
