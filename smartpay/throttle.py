"""A rate limit on every page that changes something (POST, PUT, PATCH, DELETE).

The API has DRF's throttles (per user, per address, and scoped ones on money and auth
endpoints) and allauth limits logins, sign-ups and resets itself; this covers the
server-rendered forms and the admin, so a script driving the pages gets the same
treatment as one driving the API. It reuses DRF's throttle (a sliding window in the
shared cache, keyed by user or, for visitors, by address) rather than a second
implementation. Stripe's webhooks are exempt: they are signed, and a refused delivery
would only be retried.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Throttled elsewhere (DRF, allauth) or must never be refused (provider webhooks, probes).
EXEMPT_PREFIXES = ("/api/", "/_allauth/", "/webhooks/", "/healthz", "/readyz", "/metrics")


class PageWriteThrottle(SimpleRateThrottle):
    scope = "page_write"

    def get_rate(self) -> str:
        # Read at call time (DRF reads its rates once, at import).
        return str(settings.PAGE_WRITE_RATE)

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"address:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PageWriteThrottleMiddleware:
    """429 with a page that says how long to wait (and ``Retry-After``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in WRITE_METHODS and not request.path.startswith(EXEMPT_PREFIXES):
            throttle = PageWriteThrottle()
            if not throttle.allow_request(request, None):  # type: ignore[arg-type]
                wait = max(1, math.ceil(throttle.wait() or 1))
                response = render(request, "429.html", {"wait_seconds": wait}, status=429)
                response["Retry-After"] = str(wait)
                return response
        return self.get_response(request)
