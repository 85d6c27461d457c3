"""The card rail on Stripe, through the official SDK.

Separate charges and transfers: the client pays a PaymentIntent on the platform
(automatic capture), releases become Transfers to Connect Express accounts,
refunds are Refunds. Every POST carries an idempotency key, so a retry after a
timeout can't charge or pay twice. Errors become ``RailError``: permanent when
repeating the same request can't succeed, transient otherwise.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any, NoReturn

import stripe
from django.conf import settings

from escrow.rails import (
    AccountInfo,
    BalanceEntry,
    PaymentIntentInfo,
    RailError,
    RefundInfo,
    TransferInfo,
)

DEFAULT_TIMEOUT_SECONDS = 20.0

# Retrying these with the same request can't succeed.
PERMANENT_ERRORS: tuple[type[stripe.StripeError], ...] = (
    stripe.CardError,
    stripe.InvalidRequestError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)
# Network trouble, rate limits and Stripe's own 5xx: try again later with the same key.
TRANSIENT_ERRORS: tuple[type[stripe.StripeError], ...] = (
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
)


def rail_error(error: stripe.StripeError) -> RailError:
    """Stripe's exception as the rail's one error type."""
    message = error.user_message or str(error) or type(error).__name__
    code = error.code or _error_code(error)
    if isinstance(error, PERMANENT_ERRORS):
        permanent = True
    elif isinstance(error, TRANSIENT_ERRORS):
        permanent = False
    else:
        # Anything else: a 4xx won't change on retry; no status means the network failed.
        status = error.http_status or 0
        permanent = 400 <= status < 500 and status not in (409, 429)
    return RailError(message, permanent=permanent, code=code)


def _error_code(error: stripe.StripeError) -> str:
    if isinstance(error, stripe.APIConnectionError):
        return "api_connection_error"
    if isinstance(error, stripe.RateLimitError):
        return "rate_limit"
    error_body = error.error
    kind = getattr(error_body, "type", None) if error_body is not None else None
    return str(kind or "stripe_error")


def _raise(error: stripe.StripeError) -> NoReturn:
    raise rail_error(error) from error


def _payment_info(intent: Any) -> PaymentIntentInfo:
    return PaymentIntentInfo(
        id=intent.id,
        status=intent.status,
        amount=int(intent.amount),
        currency=intent.currency,
        client_secret=intent.client_secret or "",
        checkout_url="",  # the page mounts Stripe's Payment Element with the client secret
    )


def _account_info(account: Any) -> AccountInfo:
    requirements = account.get("requirements") or {}
    return AccountInfo(
        id=account.id,
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        requirements_due=list(requirements.get("currently_due") or []),
    )


def _balance_entry(txn: Any) -> BalanceEntry:
    source = txn.get("source")
    return BalanceEntry(
        id=txn.id,
        type=txn.type,
        amount=int(txn.amount),
        currency=txn.currency,
        source=source if isinstance(source, str) else getattr(source, "id", "") or "",
        created=int(txn.created),
    )


class StripeProvider:
    """``CardProvider`` on Stripe. The SDK doesn't retry: services own retries and backoff."""

    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        max_network_retries: int = 0,
    ) -> None:
        base = settings.STRIPE_API_BASE
        configured: float = getattr(settings, "STRIPE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
        seconds = configured if timeout is None else timeout
        self.client = stripe.StripeClient(
            api_key or settings.STRIPE_SECRET_KEY,
            base_addresses={"api": base} if base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=seconds),
        )

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> PaymentIntentInfo:
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "automatic_payment_methods": {"enabled": True},
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        return _payment_info(intent)

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo:
        try:
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id)
        except stripe.StripeError as error:
            _raise(error)
        return _payment_info(intent)

    def cancel_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str
    ) -> PaymentIntentInfo:
        try:
            intent = self.client.v1.payment_intents.cancel(
                payment_intent_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as error:
            _raise(error)
        return _payment_info(intent)

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundInfo:
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": payment_intent_id,
                    "amount": amount,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        status = refund.status or "pending"
        return RefundInfo(id=refund.id, status=status, amount=int(refund.amount))

    def create_connected_account(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> AccountInfo:
        try:
            account = self.client.v1.accounts.create(
                params={
                    "type": "express",
                    "country": country or settings.STRIPE_CONNECT_COUNTRY,
                    "email": email,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        return _account_info(account)

    def retrieve_account(self, account_id: str) -> AccountInfo:
        try:
            account = self.client.v1.accounts.retrieve(account_id)
        except stripe.StripeError as error:
            _raise(error)
        return _account_info(account)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        # A link is single-use and short-lived: a fresh key each time, never a replayed link.
        try:
            link = self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
                options={"idempotency_key": f"account-link-{secrets.token_hex(16)}"},
            )
        except stripe.StripeError as error:
            _raise(error)
        return str(link.url)

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferInfo:
        try:
            transfer = self.client.v1.transfers.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "destination": destination,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        destination_id = transfer.destination
        return TransferInfo(
            id=transfer.id,
            amount=int(transfer.amount),
            currency=transfer.currency,
            destination=destination_id
            if isinstance(destination_id, str)
            else getattr(destination_id, "id", destination),
        )

    def list_balance_transactions(self, *, created_gte: int = 0) -> Iterator[BalanceEntry]:
        """Every balance transaction since ``created_gte`` (Unix seconds), newest first."""
        try:
            page = self.client.v1.balance_transactions.list(
                params={"created": {"gte": created_gte}, "limit": 100}
            )
            for txn in page.auto_paging_iter():
                yield _balance_entry(txn)
        except stripe.StripeError as error:
            _raise(error)
