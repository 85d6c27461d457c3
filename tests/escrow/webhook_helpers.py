"""Helpers for the payout and webhook tests: connected freelancers on the fake
Stripe server, and events signed and posted exactly as Stripe delivers them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import _state as celery_state
from django.conf import settings
from django.test import Client
from django.urls import reverse

from escrow.models import PayoutAccount
from escrow.rails import events
from escrow.services import payout_accounts
from marketplace.models import User
from tests.escrow.fake_stripe import FakeStripe
from tests.escrow.money import enable_payouts
from tests.factories import verified_freelancer

RETURN_URL = "https://smartpay.test/money/payouts/"


def connected_freelancer(fake: FakeStripe, *, enabled: bool = True) -> User:
    """A verified freelancer with a connected account (onboarding finished when ``enabled``)."""
    user = verified_freelancer()
    if enabled:
        enable_payouts(user, fake)
    else:
        payout_accounts.connect_payout_account(
            actor=user, return_url=RETURN_URL, refresh_url=RETURN_URL
        )
    return user


def account_of(user: User) -> PayoutAccount:
    return PayoutAccount.objects.get(user=user)


def signed(event: dict[str, Any], *, secret: str = "", timestamp: int | None = None) -> tuple:
    """The body and ``Stripe-Signature`` header Stripe would send for ``event``."""
    payload = events.encode_event(event)
    return payload, events.sign_payload(
        payload, secret or settings.STRIPE_WEBHOOK_SECRET, timestamp
    )


def post_event(client: Client, event: dict[str, Any], **signing: Any) -> Any:
    payload, signature = signed(event, **signing)
    return post_raw(client, payload, signature)


def post_raw(client: Client, payload: bytes, signature: str | None) -> Any:
    headers = {} if signature is None else {"Stripe-Signature": signature}
    return client.post(
        reverse("stripe_webhook"), data=payload, content_type="application/json", headers=headers
    )


@contextmanager
def threads_running_eager_tasks() -> Iterator[None]:
    """Wrap threads that run Celery tasks eagerly at the same time.

    An eager task sets a process-wide "inside a task" flag and restores the value it
    saw, without a lock: overlapping threads can leave it set, and every later
    ``result.get()`` in the process would then refuse to run.
    """
    before = celery_state.task_join_will_block()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        celery_state._set_task_join_will_block(before)  # type: ignore[attr-defined]
