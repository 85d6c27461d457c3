"""The sandbox card provider: Stripe's behaviour, kept in our own database.

Objects are ``SandboxObject`` rows holding Stripe-shaped JSON. A caller's
idempotency key is unique in the table, so the same key returns the same
object even when two requests race (the loser's insert fails and it reads the
winner's row). Money-moving objects also write a balance transaction, as
Stripe does, so reconciliation runs against the sandbox like the real thing.
Events go out signed, after commit, through ``deliver_sandbox_event``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.http import urlencode

from escrow.models import SandboxObject
from escrow.rails import (
    AccountInfo,
    BalanceEntry,
    PaymentIntentInfo,
    RailError,
    RefundInfo,
    TransferInfo,
    events,
)
from escrow.rails.events import Obj, new_id

PAYMENT_INTENT = "payment_intent"
CHARGE = "charge"
REFUND = "refund"
ACCOUNT = "account"
TRANSFER = "transfer"
BALANCE_TRANSACTION = "balance_transaction"

SUCCEEDING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
# number -> (Stripe's message, decline code); None means the payment succeeds.
TEST_CARDS: dict[str, tuple[str, str] | None] = {
    SUCCEEDING_CARD: None,
    DECLINED_CARD: ("Your card was declined.", "generic_decline"),
    INSUFFICIENT_FUNDS_CARD: ("Your card has insufficient funds.", "insufficient_funds"),
}
CONFIRMABLE = {"requires_payment_method", "requires_confirmation", "requires_action"}


def _missing(kind: str, object_id: str) -> RailError:
    return RailError(f"No such {kind}: '{object_id}'", permanent=True, code="resource_missing")


def _load(kind: str, object_id: str, *, lock: bool = False) -> SandboxObject:
    rows = SandboxObject.objects.select_for_update() if lock else SandboxObject.objects
    found = rows.filter(object_id=object_id, kind=kind).first()
    if found is None:
        raise _missing(kind, object_id)
    return found


def _existing(key: str, kind: str, expected: dict[str, Any]) -> SandboxObject | None:
    """The object an earlier request with ``key`` made; a different request is refused."""
    found = SandboxObject.objects.filter(idempotency_key=key).first()
    if found is None:
        return None
    if found.kind != kind or any(found.data.get(k) != v for k, v in expected.items()):
        raise RailError(
            "Keys for idempotent requests can only be used with the same parameters they "
            f"were first used with. Try using a key other than '{key}' if you meant to "
            "execute a different request.",
            permanent=True,
            code="idempotency_error",
        )
    return found


def _create_once(
    kind: str,
    key: str,
    expected: dict[str, Any],
    build: Callable[[str], Obj],
    after: Callable[[SandboxObject], None] | None = None,
) -> SandboxObject:
    """Create the object for ``key`` once; ``after`` runs in the same transaction."""
    found = _existing(key, kind, expected)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            data = build(new_id(_PREFIXES[kind]))
            created = SandboxObject.objects.create(
                object_id=data["id"], kind=kind, idempotency_key=key, data=data
            )
            if after is not None:
                after(created)
            return created
    except IntegrityError:
        # A concurrent request with the same key won the insert; answer with its object.
        found = _existing(key, kind, expected)
        if found is None:
            raise
        return found


_PREFIXES = {PAYMENT_INTENT: "pi", REFUND: "re", ACCOUNT: "acct", TRANSFER: "tr"}


def _save(row: SandboxObject, **changes: Any) -> Obj:
    row.data = {**row.data, **changes}
    row.save(update_fields=["data", "updated_at"])
    return row.data


def _store(kind: str, data: Obj) -> SandboxObject:
    return SandboxObject.objects.create(object_id=data["id"], kind=kind, data=data)


def _balance_transaction(*, amount: int, currency: str, type_: str, source: str) -> str:
    data = events.balance_transaction_object(
        txn_id=new_id("txn"), amount=amount, currency=currency, type_=type_, source=source
    )
    return _store(BALANCE_TRANSACTION, data).object_id


def _emit(event_type: str, data_object: Obj) -> None:
    """Send the event once the surrounding transaction commits, like Stripe after its own."""
    event = events.build_event(event_type, data_object)
    transaction.on_commit(lambda: events.deliver_sandbox_event.delay(event))


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _payment_info(data: Obj) -> PaymentIntentInfo:
    return PaymentIntentInfo(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        currency=data["currency"],
        client_secret=data["client_secret"],
        checkout_url=_site_url(reverse("sandbox_checkout", args=[data["id"]])),
    )


def _account_info(data: Obj) -> AccountInfo:
    return AccountInfo(
        id=data["id"],
        payouts_enabled=bool(data["payouts_enabled"]),
        details_submitted=bool(data["details_submitted"]),
        requirements_due=list(data["requirements"]["currently_due"]),
    )


class SandboxProvider:
    """``CardProvider`` without Stripe: the embedded default and the offline journey."""

    name = "sandbox"

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> PaymentIntentInfo:
        def build(object_id: str) -> Obj:
            return events.payment_intent_object(
                payment_intent_id=object_id,
                amount=amount,
                currency=currency,
                status="requires_payment_method",
                metadata=metadata,
            )

        expected = {"amount": amount, "currency": currency}
        row = _create_once(PAYMENT_INTENT, idempotency_key, expected, build)
        return _payment_info(row.data)

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentInfo:
        return _payment_info(_load(PAYMENT_INTENT, payment_intent_id).data)

    def cancel_payment_intent(
        self, payment_intent_id: str, *, idempotency_key: str
    ) -> PaymentIntentInfo:
        with transaction.atomic():
            row = _load(PAYMENT_INTENT, payment_intent_id, lock=True)
            status = row.data["status"]
            if status in CONFIRMABLE | {"processing"}:
                _save(row, status="canceled", canceled_at=events.now())
            elif status != "canceled":  # a retried cancel answers as the first one did
                raise RailError(
                    f"You cannot cancel this PaymentIntent because it has a status of {status}.",
                    permanent=True,
                    code="payment_intent_unexpected_state",
                )
        return _payment_info(row.data)

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundInfo:
        with transaction.atomic():
            # The intent's row lock puts refunds of one payment in a queue.
            intent = _load(PAYMENT_INTENT, payment_intent_id, lock=True)
            row = _create_once(
                REFUND,
                idempotency_key,
                {"amount": amount, "payment_intent": payment_intent_id},
                lambda refund_id: _refund_data(intent, refund_id, amount, metadata),
                after=lambda refund: _apply_refund(intent, refund),
            )
        return RefundInfo(id=row.object_id, status=row.data["status"], amount=amount)

    def create_connected_account(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> AccountInfo:
        def build(object_id: str) -> Obj:
            return events.account_object(
                account_id=object_id,
                email=email,
                country=country or settings.STRIPE_CONNECT_COUNTRY,
                metadata=metadata,
            )

        row = _create_once(ACCOUNT, idempotency_key, {"email": email}, build)
        return _account_info(row.data)

    def retrieve_account(self, account_id: str) -> AccountInfo:
        return _account_info(_load(ACCOUNT, account_id).data)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        _load(ACCOUNT, account_id)
        page = reverse("sandbox_onboarding", args=[account_id])
        return _site_url(f"{page}?{urlencode({'return': _site_path(return_url)})}")

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferInfo:
        with transaction.atomic():
            # The account's row lock puts transfers to one account in a queue.
            account = _load(ACCOUNT, destination, lock=True)
            expected = {"amount": amount, "currency": currency, "destination": destination}
            row = _existing(idempotency_key, TRANSFER, expected)
            if row is None:
                if not account.data["payouts_enabled"]:
                    raise RailError(
                        "Your destination account needs to have at least one of the following "
                        "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                        permanent=True,
                        code="insufficient_capabilities_for_transfer",
                    )
                row = _create_once(
                    TRANSFER,
                    idempotency_key,
                    expected,
                    lambda transfer_id: events.transfer_object(
                        transfer_id=transfer_id,
                        amount=amount,
                        currency=currency,
                        destination=destination,
                        metadata=metadata,
                    ),
                    after=_record_transfer,
                )
        return TransferInfo(
            id=row.object_id, amount=amount, currency=currency, destination=destination
        )

    def list_balance_transactions(self, *, created_gte: int = 0) -> Iterator[BalanceEntry]:
        rows = SandboxObject.objects.filter(
            kind=BALANCE_TRANSACTION, data__created__gte=created_gte
        ).order_by("-pk")
        for row in rows.iterator():
            data = row.data
            yield BalanceEntry(
                id=data["id"],
                type=data["type"],
                amount=int(data["amount"]),
                currency=data["currency"],
                source=data["source"],
                created=int(data["created"]),
            )


def _record_transfer(transfer: SandboxObject) -> None:
    txn = _balance_transaction(
        amount=-int(transfer.data["amount"]),
        currency=transfer.data["currency"],
        type_="transfer",
        source=transfer.object_id,
    )
    _save(transfer, balance_transaction=txn)


def _site_path(url: str) -> str:
    """``return_url`` as a path on this site (the onboarding page refuses anything else)."""
    if url.startswith(settings.SITE_URL + "/"):
        return url[len(settings.SITE_URL) :]
    return url if url.startswith("/") and not url.startswith("//") else "/"


def _refund_data(intent: SandboxObject, refund_id: str, amount: int, metadata: dict) -> Obj:
    data = intent.data
    if data["status"] != "succeeded":
        raise RailError(
            f"This PaymentIntent ({data['id']}) does not have a successful charge to refund.",
            permanent=True,
            code="charge_not_refundable",
        )
    charge = _load(CHARGE, data["latest_charge"]).data
    left = int(charge["amount"]) - int(charge["amount_refunded"])
    if amount <= 0 or amount > left:
        raise RailError(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            permanent=True,
            code="amount_too_large",
        )
    return events.refund_object(
        refund_id=refund_id,
        amount=amount,
        currency=data["currency"],
        payment_intent_id=data["id"],
        charge_id=charge["id"],
        metadata=metadata,
    )


def _apply_refund(intent: SandboxObject, refund: SandboxObject) -> None:
    """The charge shows the refund, the balance pays it, and ``charge.refunded`` goes out."""
    charge_row = _load(CHARGE, intent.data["latest_charge"], lock=True)
    txn = _balance_transaction(
        amount=-int(refund.data["amount"]),
        currency=refund.data["currency"],
        type_="refund",
        source=refund.object_id,
    )
    refund_data = _save(refund, balance_transaction=txn)
    charge = charge_row.data
    refunds = [refund_data, *charge["refunds"]["data"]]
    updated = events.charge_object(
        charge_id=charge["id"],
        amount=int(charge["amount"]),
        currency=charge["currency"],
        payment_intent_id=charge["payment_intent"],
        metadata=charge["metadata"],
        refunds=refunds,
        balance_transaction=charge["balance_transaction"],
        last4=charge["payment_method_details"]["card"]["last4"],
    )
    _emit("charge.refunded", _save(charge_row, **{**updated, "created": charge["created"]}))


# --- the sandbox's own pages ------------------------------------------------------------------


def confirm_payment(payment_intent_id: str, card_number: str) -> PaymentIntentInfo:
    """Pay ``payment_intent_id`` with a test card, as Stripe.js would.

    A declined card leaves the intent waiting for another card, emits
    ``payment_intent.payment_failed`` and raises ``RailError`` (code
    ``card_declined``); an unknown number raises ``incorrect_number`` and
    changes nothing. Success emits ``payment_intent.succeeded``.
    """
    number = "".join(ch for ch in card_number if ch.isdigit())
    if number not in TEST_CARDS:
        raise RailError("Your card number is incorrect.", permanent=True, code="incorrect_number")
    decline = TEST_CARDS[number]
    with transaction.atomic():
        row = _load(PAYMENT_INTENT, payment_intent_id, lock=True)
        status = row.data["status"]
        if status == "succeeded":
            raise RailError(
                "This payment has already been made.",
                permanent=True,
                code="payment_intent_unexpected_state",
            )
        if status not in CONFIRMABLE:
            raise RailError(
                "This payment was cancelled and can't be paid.",
                permanent=True,
                code="payment_intent_unexpected_state",
            )
        if decline is None:
            _emit("payment_intent.succeeded", _succeed(row, last4=number[-4:]))
            return _payment_info(row.data)
        message, decline_code = decline
        error = events.card_error(message, decline_code=decline_code)
        _emit(
            "payment_intent.payment_failed",
            _save(row, status="requires_payment_method", last_payment_error=error),
        )
    raise RailError(message, permanent=True, code="card_declined")


def _succeed(row: SandboxObject, *, last4: str) -> Obj:
    data = row.data
    amount, currency = int(data["amount"]), data["currency"]
    charge_id = new_id("ch")
    txn = _balance_transaction(amount=amount, currency=currency, type_="charge", source=charge_id)
    charge = events.charge_object(
        charge_id=charge_id,
        amount=amount,
        currency=currency,
        payment_intent_id=data["id"],
        metadata=data["metadata"],
        balance_transaction=txn,
        last4=last4,
    )
    _store(CHARGE, charge)
    return _save(
        row,
        status="succeeded",
        amount_received=amount,
        latest_charge=charge_id,
        last_payment_error=None,
    )


def complete_onboarding(account_id: str) -> AccountInfo:
    """Finish the simulated Connect onboarding: payouts enabled, ``account.updated`` sent."""
    with transaction.atomic():
        row = _load(ACCOUNT, account_id, lock=True)
        if not row.data["payouts_enabled"]:
            data = row.data
            done = events.account_object(
                account_id=data["id"],
                email=data["email"],
                country=data["country"],
                payouts_enabled=True,
                details_submitted=True,
                metadata=data["metadata"],
            )
            _emit("account.updated", _save(row, **{**done, "created": data["created"]}))
    return _account_info(row.data)
