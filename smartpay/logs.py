"""Log lines that say where they come from.

Every record that reaches the console handler gets the current request id and origin
(a client address, ``task:<name>``, ``command:<name>`` or ``system``) from
``request_context``, so one request's lines, and those of the tasks it queued, can be
found with one search. Production writes one JSON object per line for the log
shipper (``LOG_FORMAT=json``); a terminal gets a plain line (``LOG_FORMAT=plain``).

Settings name these classes by path in ``LOGGING``, so this module is imported when
logging is configured, after the settings are loaded.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from pythonjsonlogger.json import JsonFormatter

from smartpay.request_context import REQUEST_ID_META, current_origin

FORMATS = ("json", "plain")


class OriginFilter(logging.Filter):
    """Adds ``request_id`` and ``origin`` to every record (unless the caller passed its
    own in ``extra``). On the handler rather than on loggers: a logger's filters don't
    see records propagated from its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        origin = current_origin()
        request_id, source = origin.request_id, origin.source
        # Django logs a 4xx/5xx response ("Not Found: /x") with the request attached
        # once the middleware that set the origin has returned.
        request = getattr(record, "request", None)
        if not request_id and isinstance(request, HttpRequest):
            request_id = request.META.get(REQUEST_ID_META, "")
            source = request.META.get("REMOTE_ADDR") or source
        if not hasattr(record, "request_id"):
            record.request_id = request_id
        if not hasattr(record, "origin"):
            record.origin = source
        return True


class JsonLineFormatter(JsonFormatter):
    """``{"time", "level", "logger", "message", "request_id", "origin", ...extra,
    "exception"}`` on one line; the time in UTC, to the millisecond."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"exc_info": "exception", "stack_info": "stack"})
        super().__init__(*args, **kwargs)

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        # Fixed keys first, in a fixed order, so lines read the same in a terminal.
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        log_data["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["request_id"] = getattr(record, "request_id", "")
        log_data["origin"] = getattr(record, "origin", "")
        super().add_fields(log_data, record, message_dict)


class PlainFormatter(logging.Formatter):
    """``2026-11-26 03:41:00,123 INFO escrow.tasks [task:escrow.settle 3f2a…] message``:
    the bracket names the origin and request id when there is one."""

    def __init__(self, fmt: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(context)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        source = getattr(record, "origin", "")
        request_id = getattr(record, "request_id", "")
        parts = [part for part in (source if source != "system" else "", request_id) if part]
        record.context = f"[{' '.join(parts)}] " if parts else ""
        return super().format(record)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict: one console handler in ``log_format`` that every logger
    (ours, Django's, Celery's, uvicorn's) reaches through the root logger."""
    if log_format not in FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}."
        )
    # Django (and uvicorn) install handlers of their own on these loggers; without
    # them their lines go up to the root handler like everyone else's.
    to_root: dict[str, Any] = {"handlers": [], "level": level, "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"origin": {"()": "smartpay.logs.OriginFilter"}},
        "formatters": {
            "json": {"()": "smartpay.logs.JsonLineFormatter"},
            "plain": {"()": "smartpay.logs.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["origin"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {**to_root},
            "django.server": {**to_root},
            "uvicorn": {**to_root},
            "uvicorn.error": {**to_root},
            # uvicorn.access is left as uvicorn sets it: off with --no-access-log (the
            # Procfile), since the request metrics and Django's 4xx/5xx lines cover it.
            "django.db.backends": {"level": "WARNING"},
        },
    }
