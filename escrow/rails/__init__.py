"""Card rail providers behind one small interface (Saleor's gateway idea).

``StripeProvider`` talks to Stripe through the official SDK; ``SandboxProvider``
answers the same calls locally (checkout page, simulated onboarding, signed
events to the real webhook endpoint) so the embedded default runs offline.
``card_provider()`` picks one: Stripe when ``STRIPE_SECRET_KEY`` is set.

Providers never touch the ledger and are never called inside a transaction or
while holding a row lock: services write intent, commit, call, then record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings


class RailError(Exception):
    """A provider call failed. ``permanent`` errors are not retried (card declined,
    invalid request); the others (timeouts, 5xx, rate limits) are, with backoff."""

    def __init__(self, message: str, *, permanent: bool, code: str = "rail_error") -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    status: str  # Stripe's PaymentIntent status, e.g. "requires_payment_method", "succeeded"
    amount: int
    currency: str
    client_secret: str = ""
    # Where the client enters card details: the sandbox checkout page, or "" on Stripe
    # (the page mounts Stripe's Payment Element with the client secret).
    checkout_url: str = ""


@dataclass(frozen=True)
class RefundInfo:
    id: str
    status: str  # "pending", "succeeded", "failed", "canceled"
    amount: int


@dataclass(frozen=True)
class TransferInfo:
    id: str
    amount: int
    currency: str
    destination: str


@dataclass(frozen=True)
class AccountInfo:
    id: str
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BalanceEntry:
    """One of Stripe's balance transactions: ``amount`` is signed from the platform's
    side (a charge is positive, a refund or transfer negative)."""

    id: str
    type: str
    amount: int
    currency: str
    source: str
    created: int


class CardProvider(Protocol):
    name: str

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> PaymentIntentInfo: ...

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo: ...

    def cancel_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str
    ) -> PaymentIntentInfo: ...

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundInfo: ...

    def create_connected_account(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> AccountInfo: ...

    def retrieve_account(self, account_id: str) -> AccountInfo: ...

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """The onboarding URL to send the freelancer to."""
        ...

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferInfo: ...

    def list_balance_transactions(self, *, created_gte: int = 0) -> Iterator[BalanceEntry]: ...


def card_provider() -> CardProvider:
    if settings.STRIPE_SECRET_KEY:
        from escrow.rails.stripe import StripeProvider

        return StripeProvider()
    from escrow.rails.sandbox import SandboxProvider

    return SandboxProvider()
