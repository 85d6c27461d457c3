"""Stripe-shaped events: builders, Stripe's signature scheme, and sandbox delivery.

The sandbox provider sends its events through the same door Stripe uses — a
signed POST to ``/webhooks/stripe/`` — so the webhook code can't tell the two
apart. Tests use the builders to make the events Stripe would send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import stripe
from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

Obj = dict[str, Any]

DELIVERY_TIMEOUT_SECONDS = 10


def new_id(prefix: str) -> str:
    """An id in Stripe's style, marked as the sandbox's: ``pi_sbx_3f9a...``."""
    return f"{prefix}_sbx_{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def build_event(event_type: str, data_object: Obj, *, event_id: str = "") -> Obj:
    """An Event as Stripe delivers it to a webhook endpoint."""
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "type": event_type,
        "created": now(),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "api_version": stripe.api_version,
        "data": {"object": data_object},
    }


# --- object shapes (the fields our webhook handling reads, as Stripe names them) ----------


def payment_intent_object(
    *,
    payment_intent_id: str,
    amount: int,
    currency: str,
    status: str = "succeeded",
    metadata: dict[str, str] | None = None,
    latest_charge: str | None = None,
    last_payment_error: Obj | None = None,
    client_secret: str = "",
) -> Obj:
    return {
        "id": payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency,
        "status": status,
        "capture_method": "automatic",
        "automatic_payment_methods": {"enabled": True},
        "client_secret": client_secret or f"{payment_intent_id}_secret_{secrets.token_hex(8)}",
        "metadata": dict(metadata or {}),
        "latest_charge": latest_charge,
        "last_payment_error": last_payment_error,
        "canceled_at": None,
        "created": now(),
        "livemode": False,
    }


def card_error(message: str, *, code: str = "card_declined", decline_code: str = "") -> Obj:
    """A PaymentIntent's ``last_payment_error`` after a declined card."""
    return {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code or None,
        "message": message,
    }


def refund_object(
    *,
    refund_id: str,
    amount: int,
    currency: str,
    payment_intent_id: str,
    charge_id: str,
    status: str = "succeeded",
    metadata: dict[str, str] | None = None,
) -> Obj:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": currency,
        "status": status,
        "payment_intent": payment_intent_id,
        "charge": charge_id,
        "metadata": dict(metadata or {}),
        "created": now(),
    }


def charge_object(
    *,
    charge_id: str,
    amount: int,
    currency: str,
    payment_intent_id: str,
    metadata: dict[str, str] | None = None,
    refunds: list[Obj] | None = None,
    balance_transaction: str | None = None,
    last4: str = "4242",
) -> Obj:
    refunds = list(refunds or [])
    refunded = sum(int(r["amount"]) for r in refunds if r["status"] != "failed")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "currency": currency,
        "payment_intent": payment_intent_id,
        "status": "succeeded",
        "paid": True,
        "captured": True,
        "refunded": refunded >= amount,
        "balance_transaction": balance_transaction,
        "metadata": dict(metadata or {}),
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": last4}},
        "refunds": {
            "object": "list",
            "data": refunds,
            "has_more": False,
            "total_count": len(refunds),
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "created": now(),
    }


def account_object(
    *,
    account_id: str,
    email: str = "",
    country: str = "US",
    payouts_enabled: bool = False,
    details_submitted: bool = False,
    currently_due: list[str] | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    if currently_due is None:
        currently_due = [] if details_submitted else ["external_account", "tos_acceptance.date"]
    return {
        "id": account_id,
        "object": "account",
        "type": "express",
        "email": email,
        "country": country,
        "charges_enabled": payouts_enabled,
        "payouts_enabled": payouts_enabled,
        "details_submitted": details_submitted,
        "capabilities": {"transfers": "active" if payouts_enabled else "inactive"},
        "requirements": {
            "currently_due": list(currently_due),
            "eventually_due": list(currently_due),
            "past_due": [],
            "disabled_reason": None if payouts_enabled else "requirements.past_due",
        },
        "metadata": dict(metadata or {}),
        "created": now(),
    }


def transfer_object(
    *,
    transfer_id: str,
    amount: int,
    currency: str,
    destination: str,
    metadata: dict[str, str] | None = None,
    amount_reversed: int = 0,
) -> Obj:
    return {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": amount_reversed,
        "reversed": amount_reversed >= amount,
        "currency": currency,
        "destination": destination,
        "metadata": dict(metadata or {}),
        "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0},
        "created": now(),
    }


def balance_transaction_object(
    *, txn_id: str, amount: int, currency: str, type_: str, source: str
) -> Obj:
    """``amount`` is signed from the platform's side: a charge adds, a refund subtracts."""
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "net": amount,
        "fee": 0,
        "currency": currency,
        "type": type_,
        "source": source,
        "status": "available",
        "created": now(),
    }


def dispute_object(
    *,
    dispute_id: str,
    charge_id: str,
    payment_intent_id: str,
    amount: int,
    currency: str,
    reason: str = "fraudulent",
    status: str = "needs_response",
) -> Obj:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "currency": currency,
        "charge": charge_id,
        "payment_intent": payment_intent_id,
        "reason": reason,
        "status": status,
        "created": now(),
    }


def dispute_created_event(**dispute: Any) -> Obj:
    """``charge.dispute.created``: takes ``dispute_object``'s keyword arguments."""
    return build_event("charge.dispute.created", dispute_object(**dispute))


def transfer_reversed_event(**transfer: Any) -> Obj:
    """``transfer.reversed``: takes ``transfer_object``'s keyword arguments
    (``amount_reversed`` is the cumulative amount reversed so far)."""
    return build_event("transfer.reversed", transfer_object(**transfer))


# --- signatures -----------------------------------------------------------------------------


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send with ``payload``."""
    stamp = now() if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def encode_event(event: Obj) -> bytes:
    return json.dumps(event, indent=2, sort_keys=True).encode()


# --- delivery -------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """The endpoint was unreachable or answered 5xx: worth another try later."""


def webhook_url() -> str:
    return f"{settings.SITE_URL}/webhooks/stripe/"


def post_event(event: Obj) -> int:
    """POST ``event`` signed to the webhook endpoint; return the HTTP status.

    Raises ``DeliveryFailed`` when retrying could help (no connection, timeout, 5xx).
    """
    url = webhook_url()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"SITE_URL must be an http(s) URL, not {settings.SITE_URL!r}")
    payload = encode_event(event)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_payload(payload, settings.STRIPE_WEBHOOK_SECRET),
            "User-Agent": "SmartPay-Sandbox/1.0 (+https://stripe.com/docs/webhooks)",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise DeliveryFailed(f"{url} answered {error.code}") from error
        return int(error.code)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise DeliveryFailed(f"{url} unreachable: {error}") from error


@shared_task(
    name="escrow.deliver_sandbox_event",
    autoretry_for=(DeliveryFailed,),
    max_retries=10,
    retry_backoff=2,
    # Under Redis's visibility timeout (an hour), so a waiting retry is not run twice.
    retry_backoff_max=600,
    retry_jitter=True,
    acks_late=True,  # the endpoint stores events by id: a second delivery is harmless
    soft_time_limit=50,
    time_limit=60,
)
def deliver_sandbox_event(event: Obj) -> int:
    """Deliver one sandbox event like Stripe does; 4xx answers are final (not retried)."""
    status = post_event(event)
    if status >= 400:
        logger.warning("Sandbox event %s (%s) refused: HTTP %s", event["id"], event["type"], status)
    return status
