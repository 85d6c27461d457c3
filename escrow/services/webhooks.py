"""Stripe webhooks: verify, store once by event id, then process idempotently.

Stripe redelivers for up to three days, unordered and sometimes twice, and its
events list reaches back only 30 days, so every verified event is stored before
anything acts on it (Zulip's Stripe webhook). Processing claims the stored row
with a conditional UPDATE (received/failed -> processing) and ends succeeded,
ignored (a type we don't act on) or failed with the error kept; the retry task
picks failed and interrupted events up again. Every handler is idempotent and
tolerates any order: the services it calls key their ledger transfers by cause,
and an event about an object we have not recorded yet fails and is retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from escrow.models import Funding, Payout, WebhookEvent
from escrow.rails import AccountInfo, card_provider
from escrow.services import payout_accounts
from smartpay.errors import DomainError

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
# Automatic retries of a failing event stop here; a new delivery still retries it.
MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)
# An event left "processing" this long belongs to a worker that died.
STUCK_AFTER = timedelta(minutes=10)
# A received event normally is processed by the request that stored it.
UNPROCESSED_AFTER = timedelta(minutes=1)
RETRY_BATCH = 200

Status = WebhookEvent.Status
Handler = Callable[[dict[str, Any], WebhookEvent], None]


class NotRecordedYet(Exception):
    """The event is about an object whose provider id we have not stored yet
    (the worker that made the call is still recording it); retry later."""


# --- receiving ----------------------------------------------------------------------


def record_event(payload: bytes, signature_header: str) -> WebhookEvent:
    """Verify a delivery and store its event once; a repeat only counts the delivery."""
    try:
        _verify(payload, signature_header)
        data = json.loads(payload)
        event_id, event_type = str(data["id"]), str(data["type"])
        created = int(data.get("created") or 0)
        if not isinstance(data.get("data", {}).get("object"), dict):
            raise ValueError("event without data.object")
    except stripe.SignatureVerificationError as error:
        raise DomainError(
            "The Stripe-Signature header does not match this payload, or is too old.",
            code="bad_signature",
        ) from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise DomainError("The payload is not a Stripe event.", code="bad_payload") from error
    # Redeliveries are common (Stripe retries, and sends some events twice): count
    # them with one UPDATE before trying the insert.
    if _count_delivery(event_id):
        return WebhookEvent.objects.get(event_id=event_id)
    try:
        with transaction.atomic():
            # The unique event_id is the claim: a concurrent twin waits, then lands below.
            return WebhookEvent.objects.create(
                provider=card_provider().name,
                event_id=event_id,
                type=event_type[:100],
                livemode=bool(data.get("livemode")),
                created=created,
                payload=data,
            )
    except IntegrityError:
        _count_delivery(event_id)
        return WebhookEvent.objects.get(event_id=event_id)


def _verify(payload: bytes, signature_header: str) -> None:
    """Stripe's own check (HMAC-SHA256 of "<t>.<payload>", at most 300 s old).

    Events from connected accounts (``account.updated``) come from a Connect
    endpoint, which Stripe signs with that endpoint's own secret.
    """
    secrets = [settings.STRIPE_WEBHOOK_SECRET]
    if connect_secret := settings.STRIPE_CONNECT_WEBHOOK_SECRET:
        secrets.append(connect_secret)
    for number, secret in enumerate(secrets, 1):
        try:
            stripe.Webhook.construct_event(
                payload, signature_header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
            )
            return
        except stripe.SignatureVerificationError:
            if number == len(secrets):
                raise


def _count_delivery(event_id: str) -> bool:
    counted = WebhookEvent.objects.filter(event_id=event_id).update(deliveries=F("deliveries") + 1)
    return counted == 1


# --- processing ---------------------------------------------------------------------


def process_event(event_id: str) -> WebhookEvent:
    """Act on a stored event unless it is done or another worker holds it."""
    event, _ = _process(event_id, timezone.now())
    return event


def _process(event_id: str, now: datetime) -> tuple[WebhookEvent, bool]:
    # processed_at doubles as "processing started" while the row is claimed, so an
    # interrupted claim can be recognised by its age.
    claimed = WebhookEvent.objects.filter(
        event_id=event_id, status__in=[Status.RECEIVED, Status.FAILED]
    ).update(status=Status.PROCESSING, attempts=F("attempts") + 1, processed_at=now)
    event = WebhookEvent.objects.get(event_id=event_id)
    if claimed != 1:
        return event, False
    handler = HANDLERS.get(event.type)
    if handler is None:
        return _finish(event, Status.IGNORED), True
    try:
        handler(event.payload["data"]["object"], event)
    except NotRecordedYet as error:
        log.warning("webhook %s (%s) arrived early: %s", event.event_id, event.type, error)
        return _finish(event, Status.FAILED, f"Not recorded yet: {error}"), True
    except Exception as error:  # any failure is kept on the event and retried
        log.exception("webhook %s (%s) failed", event.event_id, event.type)
        return _finish(event, Status.FAILED, f"{type(error).__name__}: {error}"), True
    return _finish(event, Status.SUCCEEDED), True


def _finish(event: WebhookEvent, status: str, error: str = "") -> WebhookEvent:
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event.pk, status=Status.PROCESSING).update(
        status=status, error=error, processed_at=now
    )
    event.status, event.error, event.processed_at = status, error, now
    return event


def retry_failed_events(*, now: datetime | None = None) -> int:
    """Reprocess failed events whose backoff has passed, events a dead worker left
    "processing", and stored events nobody processed; returns how many ran."""
    now = now or timezone.now()
    WebhookEvent.objects.filter(
        status=Status.PROCESSING, processed_at__lt=now - STUCK_AFTER
    ).update(status=Status.FAILED, error="Processing was interrupted.")
    unprocessed = WebhookEvent.objects.filter(
        status=Status.RECEIVED, received_at__lt=now - UNPROCESSED_AFTER
    )
    failed = WebhookEvent.objects.filter(status=Status.FAILED, attempts__lt=MAX_ATTEMPTS)
    candidates = list(
        (unprocessed | failed)
        # Longest untouched first, so events still backing off can't crowd out due ones.
        .order_by(F("processed_at").asc(nulls_first=True), "pk")
        .values_list("event_id", "status", "attempts", "processed_at")[:RETRY_BATCH]
    )
    ran = 0
    for event_id, status, attempts, last_try in candidates:
        if status == Status.FAILED and last_try and last_try + _retry_delay(attempts) > now:
            continue
        _, claimed = _process(event_id, now)
        ran += claimed
    return ran


def _retry_delay(attempts: int) -> timedelta:
    return min(RETRY_BASE * 2 ** min(max(attempts - 1, 0), 16), RETRY_CAP)


# --- handlers: one per event type, each idempotent ------------------------------------


def _payment_succeeded(obj: dict[str, Any], event: WebhookEvent) -> None:
    from escrow.services import funding

    confirmed = funding.confirm_funding(
        payment_intent_id=obj["id"],
        amount_received=int(obj.get("amount_received") or 0),
        currency=str(obj["currency"]).lower(),
    )
    if confirmed is None:
        _unless_funding_in_flight(obj)


def _payment_failed(obj: dict[str, Any], event: WebhookEvent) -> None:
    from escrow.services import funding

    last_error = obj.get("last_payment_error") or {}
    failed = funding.fail_funding(
        payment_intent_id=obj["id"],
        message=str(last_error.get("message") or "The card payment failed."),
    )
    if failed is None:
        _unless_funding_in_flight(obj)


def _unless_funding_in_flight(intent: dict[str, Any]) -> None:
    """An intent we don't know is someone else's, unless its funding is still
    recording the intent's id: then the event must wait for it."""
    funding_id = str((intent.get("metadata") or {}).get("funding_id") or "")
    if (
        funding_id.isdigit()
        and Funding.objects.filter(pk=int(funding_id), payment_intent_id__isnull=True).exists()
    ):
        raise NotRecordedYet(f"payment {intent['id']} of funding {funding_id}")


def _charge_refunded(obj: dict[str, Any], event: WebhookEvent) -> None:
    # Since API version 2022-11-15 a Charge no longer embeds its refunds; then the
    # refund.* events below carry them.
    for refund in (obj.get("refunds") or {}).get("data") or []:
        _refund_changed(refund, event)


def _refund_changed(refund: dict[str, Any], event: WebhookEvent) -> None:
    from escrow.services import refunds

    if not (refund.get("metadata") or {}).get("refund_id"):
        # Made outside SmartPay (the Dashboard, say): no Refund of ours to update.
        log.info("refund %s is not one of ours", refund.get("id"))
        return
    # A refund of ours whose provider id is not stored yet raises, so the event is
    # retried once the worker that asked for it has recorded it.
    refunds.confirm_card_refund(provider_refund_id=refund["id"], status=str(refund["status"]))


def _dispute_created(obj: dict[str, Any], event: WebhookEvent) -> None:
    from escrow.services import holds

    payment_intent_id = obj.get("payment_intent")
    if not payment_intent_id:
        log.warning("dispute %s names no payment intent; nothing to freeze", obj.get("id"))
        return
    holds.freeze_for_chargeback(
        payment_intent_id=str(payment_intent_id),
        dispute_id=str(obj["id"]),
        reason=str(obj.get("reason") or ""),
    )


def _dispute_closed(obj: dict[str, Any], event: WebhookEvent) -> None:
    from escrow.services import holds

    holds.close_chargeback(dispute_id=str(obj["id"]), status=str(obj.get("status") or ""))


def _transfer_reversed(obj: dict[str, Any], event: WebhookEvent) -> None:
    from escrow.services import payouts

    payout = payouts.reverse_payout(
        transfer_id=obj["id"], amount_reversed=int(obj.get("amount_reversed") or 0)
    )
    if payout is not None:
        return
    payout_id = str((obj.get("metadata") or {}).get("payout_id") or "")
    in_flight = [Payout.Status.QUEUED, Payout.Status.SENDING, Payout.Status.RETRYING]
    if (
        payout_id.isdigit()
        and Payout.objects.filter(
            pk=int(payout_id), provider_transfer_id__isnull=True, status__in=in_flight
        ).exists()
    ):
        raise NotRecordedYet(f"transfer {obj['id']} of payout {payout_id}")


def _account_updated(obj: dict[str, Any], event: WebhookEvent) -> None:

    newer = WebhookEvent.objects.filter(
        type=event.type,
        status=Status.SUCCEEDED,
        created__gt=event.created,
        payload__data__object__id=obj["id"],
    )
    if newer.exists():
        return  # an older snapshot must not undo a newer one
    requirements = obj.get("requirements") or {}
    due = list(
        dict.fromkeys(
            [*(requirements.get("past_due") or []), *(requirements.get("currently_due") or [])]
        )
    )
    payout_accounts.sync_payout_account(
        account_id=obj["id"],
        info=AccountInfo(
            id=obj["id"],
            payouts_enabled=bool(obj.get("payouts_enabled")),
            details_submitted=bool(obj.get("details_submitted")),
            requirements_due=due,
        ),
    )


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _refund_changed,
    "refund.created": _refund_changed,
    "refund.updated": _refund_changed,
    "charge.dispute.created": _dispute_created,
    "charge.dispute.closed": _dispute_closed,
    "transfer.reversed": _transfer_reversed,
    "account.updated": _account_updated,
}
