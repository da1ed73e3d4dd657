"""Structured JSON logs: one object per line, the request id on every record of a request.

The access record names the route, status, duration, cache result and the token's subject;
never a header, a query string or a token. `log_config` is uvicorn's logging config, so its own
records (startup, errors) are JSON too.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
# Anything that looks like a bearer token or a JWT is cut from messages, whoever logs it.
_SECRET = re.compile(r"(Bearer\s+)?eyJ[\w-]*\.[\w-]*\.[\w-]*")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _SECRET.sub("[redacted]", record.getMessage()),
        }
        current = request_id.get()
        if current:
            entry["request_id"] = current
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["error"] = _SECRET.sub("[redacted]", self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def log_config(level: str = "INFO") -> dict[str, Any]:
    """logging.config.dictConfig for the API process (uvicorn's `log_config`)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "amazon_assets": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Our middleware writes the access record (with the request id, without queries).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
