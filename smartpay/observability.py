"""Error reports to Sentry, when ``SENTRY_DSN`` is set, and nothing at all otherwise.

Settings call ``init_sentry`` right after ``LOGGING``, so the web process, the Celery
worker and management commands all report. What leaves the machine is kept lean:

* ``send_default_pii=False``: no cookies, no client address, no user e-mail.
* Sentry's own scrubber drops values under secret-looking keys (password, token, ...),
  and ``scrub_event`` then replaces every occurrence of a secret setting's value
  (the chain arbiter's private key, Stripe's keys, ``SECRET_KEY``, ...) anywhere in
  the event, so a key that ends up in an exception message or a local variable with
  an innocent name is not sent either.
* The request id (and the task or command that ran) become tags, so an error report
  leads to the log lines and audit entries of the request that caused it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

import sentry_sdk
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.types import Event, Hint

from smartpay.request_context import current_origin

FILTERED = "[Filtered]"
# Settings whose values must never leave the machine; any setting whose name matches
# SECRET_NAME is added, so a new ``*_SECRET`` or ``*_KEY`` is covered without a change.
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS)$|_KEY_|_SECRET_")
PUBLIC_SETTINGS = frozenset({"STRIPE_PUBLISHABLE_KEY", "AWS_ACCESS_KEY_ID"})
# Short values ("", "0", "true") would blank out ordinary text.
MIN_SECRET_LENGTH = 8
# Event keys (also scrubbed by Sentry's defaults) plus the names our code uses.
EXTRA_DENYLIST = ["mnemonic", "seed", "arbiter_key", "deployer_key", "signature", "dsn"]


def init_sentry(dsn: str, *, environment: str, release: str | None = None) -> bool:
    """Start reporting to ``dsn``; without one, do nothing and return False."""
    if not dsn:
        return False
    # Imported here: without a DSN the settings module loads none of this.
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    scrubber = EventScrubber(
        denylist=[*DEFAULT_DENYLIST, *EXTRA_DENYLIST], recursive=True, send_default_pii=False
    )
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        event_scrubber=scrubber,
        before_send=scrub_event,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # Errors only: performance tracing is a separate decision (volume, cost).
        traces_sample_rate=0.0,
    )
    return True


def scrub_event(event: Event, hint: Hint) -> Event:
    """Tag the event with the request id and origin, then blank every secret value."""
    origin = current_origin()
    tags = event.setdefault("tags", {})
    if origin.request_id:
        tags.setdefault("request_id", origin.request_id)
    tags.setdefault("origin", _origin_tag(origin.source))
    secrets = secret_values()
    if not secrets:
        return event
    pattern = re.compile("|".join(re.escape(value) for value in secrets), re.IGNORECASE)
    scrubbed: Event = _scrub(event, pattern)
    return scrubbed


def _origin_tag(source: str) -> str:
    """A task's or command's name as is; a client address is personal data."""
    if source == "system" or source.startswith(("task:", "command:")):
        return source
    return "request"


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(FILTERED, value)
    if isinstance(value, dict):
        return {key: _scrub(item, pattern) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, pattern) for item in value]
    return value


def secret_values() -> tuple[str, ...]:
    """The values to blank: secret settings, database and storage passwords, and the
    passwords inside service URLs (``redis://:pw@host``)."""
    from django.conf import settings

    named = [(name, getattr(settings, name, "")) for name in dir(settings) if name.isupper()]
    nested: list[object] = [db.get("PASSWORD") for db in settings.DATABASES.values()]
    storages = cast(dict[str, dict[str, Any]], settings.STORAGES)
    for storage in storages.values():
        options: dict[str, object] = storage.get("OPTIONS", {})
        nested += [value for key, value in options.items() if SECRET_NAME.search(key.upper())]
    return _secret_values(
        tuple((name, value) for name, value in named if isinstance(value, str) and value),
        tuple(value for value in nested if isinstance(value, str) and value),
    )


@lru_cache(maxsize=4)
def _secret_values(named: tuple[tuple[str, str], ...], nested: tuple[str, ...]) -> tuple[str, ...]:
    found: set[str] = set(nested)
    for name, value in named:
        if SECRET_NAME.search(name) and name not in PUBLIC_SETTINGS:
            found.update(_forms_of(value))
        elif "://" in value:
            found.add(_password_in(value))
    # Longest first, so a key is replaced whole before a shorter secret inside it.
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def _password_in(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:  # not a URL after all (a bad port, say)
        return ""


def _forms_of(value: str) -> Iterable[str]:
    """A hex private key is also written without its ``0x`` (web3 prints it both ways)."""
    yield value
    if value.lower().startswith("0x"):
        yield value[2:]
