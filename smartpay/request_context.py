"""Where the current action comes from: a request (address, browser, request id), a
Celery task, or a management command. The audit log reads it; nothing else should
need to pass it around.

A context variable rather than thread-locals: it follows a request across
asgiref's sync/async hops and resets itself when the request ends.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "smartpay.request_id"
MAX_REQUEST_ID = 64
# What a proxy or client may send as its request id (a UUID, a hex or base64url token);
# anything else is replaced by a fresh one rather than stored.
REQUEST_ID_FORM = re.compile(rf"[A-Za-z0-9._:+/=-]{{1,{MAX_REQUEST_ID}}}")


@dataclass(frozen=True)
class Origin:
    """``source`` is an IP address, ``task:<name>``, ``command:<name>`` or ``system``."""

    source: str = "system"
    user_agent: str = ""
    request_id: str = ""


SYSTEM = Origin()
_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("origin", default=None)


def current_origin() -> Origin:
    return _origin.get() or SYSTEM


def origin_var() -> contextvars.ContextVar[Origin | None]:
    """The variable itself, for hooks that set and reset it (Celery's task signals)."""
    return _origin


@contextmanager
def acting_from(source: str, *, request_id: str = "", user_agent: str = "") -> Iterator[Origin]:
    """Run a block as coming from ``source`` (a task, a command, a script)."""
    origin = Origin(source=source[:100], user_agent=user_agent[:300], request_id=request_id)
    token = _origin.set(origin)
    try:
        yield origin
    finally:
        _origin.reset(token)


def origin_of(request: HttpRequest) -> Origin:
    # REMOTE_ADDR only: a forwarded-for header is whatever the client wrote unless a
    # proxy we trust rewrites it, and the proxy sets REMOTE_ADDR in that case.
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if REQUEST_ID_FORM.fullmatch(incoming) else ""
    return Origin(
        source=request.META.get("REMOTE_ADDR") or "unknown",
        user_agent=request.headers.get("User-Agent", "")[:300],
        request_id=request_id or uuid.uuid4().hex,
    )


def _enter(request: HttpRequest) -> Origin:
    origin = origin_of(request)
    # Django logs 4xx and 5xx responses after the middleware has returned; the log
    # filter (smartpay.logs) finds the request id here then.
    request.META[REQUEST_ID_META] = origin.request_id
    return origin


class RequestOriginMiddleware:
    """Sets the origin for the request and echoes its request id in the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        token = _origin.set(_enter(request))
        try:
            response: HttpResponse = self.get_response(request)
        finally:
            request_id = current_origin().request_id
            _origin.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = _origin.set(_enter(request))
        try:
            get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
            response = await get_response(request)
        finally:
            request_id = current_origin().request_id
            _origin.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
