"""Removing what has outlived its use: expired sessions, sign-in nonces that expired a
day ago, and idempotency keys past ``IDEMPOTENCY_KEEP_HOURS`` (Stripe keeps its keys
24 h too). Money records, events and the audit log are never cleaned up."""

from __future__ import annotations

from datetime import datetime

from django.contrib.sessions.models import Session
from django.utils import timezone

from marketplace.wallets import purge_expired_nonces
from smartpay.api.idempotency import purge_expired_keys


def remove_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Delete every expired row; returns how many of each kind went."""
    now = now or timezone.now()
    # Sessions live in the database (Django's default engine); clear_expired() would
    # do the same but cannot say how many it removed.
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    return {
        "sessions": sessions,
        "sign-in nonces": purge_expired_nonces(),
        "idempotency keys": purge_expired_keys(now=now),
    }
