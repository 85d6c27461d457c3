"""Payouts: a freelancer's available balance sent to their connected account.

The ledger moves available -> external(card) when the payout is requested, so
the money can't be spent twice while the Transfer is in flight; a permanent
failure moves it back ("payout-return:<id>"), a reversal returns what Stripe
took back ("reversal:<id>:<cumulative>"). The provider is never called inside a
transaction: request commits the intent, ``send_payout`` claims the row with a
conditional UPDATE, calls, then records the result.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from escrow import ledger
from escrow.errors import InsufficientFunds
from escrow.models import LedgerAccount, Payout, PayoutAccount
from escrow.rails import RailError, TransferInfo, card_provider
from escrow.services import audited
from marketplace.models import User
from marketplace.money import CURRENCIES, Rail, format_amount
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError

log = logging.getLogger(__name__)

# First retry after a minute, then 4x longer each time. The cap keeps every
# attempt of a payout well inside Stripe's 24 h idempotency-key window.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=4)
# A payout left "sending" this long belongs to a worker that died mid-call; the
# idempotency key makes repeating the provider call safe.
STUCK_AFTER = timedelta(minutes=10)
RETRY_BATCH = 50


# --- requesting and sending -------------------------------------------------------


def request_payout(
    *,
    actor: User,
    currency: str,
    amount: int | None,
    request_key: str,
    automatic: bool = False,
) -> Payout:
    """Take ``amount`` (None: everything) off the available balance and queue the Transfer.

    The same ``request_key`` from the same user returns the first payout.
    """
    key = f"{actor.pk}:{request_key}"
    existing = Payout.objects.filter(request_key=key).first()
    if existing is not None:
        return _replayed(existing, currency=currency, amount=amount)
    spec = CURRENCIES.get(currency)
    if spec is None or spec.rail != Rail.CARD:
        raise DomainError("Payouts are made in card currencies.", code="unsupported_currency")
    if amount is not None and (isinstance(amount, bool) or int(amount) != amount):
        raise DomainError("Amounts are whole minor units.", code="invalid_amount")
    try:
        payout = _create_payout(actor, currency, amount, key, automatic)
    except IntegrityError:
        # A concurrent twin with the same key won the unique request_key.
        return _replayed(Payout.objects.get(request_key=key), currency=currency, amount=amount)
    return payout


def _replayed(payout: Payout, *, currency: str, amount: int | None) -> Payout:
    if payout.currency != currency or (amount is not None and payout.amount != amount):
        raise Conflict(
            "This request key was already used for a different payout.", code="request_key_reused"
        )
    return payout


@transaction.atomic(durable=True)
def _create_payout(
    actor: User, currency: str, amount: int | None, key: str, automatic: bool
) -> Payout:
    # The payout account's lock serialises one user's requests.
    account = PayoutAccount.objects.select_for_update().filter(user=actor).first()
    if account is None or not account.payouts_enabled:
        raise Conflict(
            "Finish setting up your payout account before requesting a payout.",
            code="payouts_not_enabled",
        )
    earlier = Payout.objects.filter(request_key=key).first()
    if earlier is not None:
        return _replayed(earlier, currency=currency, amount=amount)
    available = ledger.user_account(actor, LedgerAccount.Kind.AVAILABLE, currency)
    external = ledger.external_account(Rail.CARD, currency)
    # Lock both accounts in primary-key order, as ledger.move does, so the balance
    # read for "everything" can't change before the move.
    locked = {
        row.pk: row
        for row in LedgerAccount.objects.select_for_update()
        .filter(pk__in=[available.pk, external.pk])
        .order_by("pk")
    }
    balance = int(locked[available.pk].balance)
    amount = balance if amount is None else int(amount)
    if amount < settings.PAYOUT_MINIMUM:
        raise DomainError(
            f"The smallest payout is {format_amount(settings.PAYOUT_MINIMUM, currency)}.",
            code="below_minimum",
        )
    if amount > balance:
        raise InsufficientFunds(
            f"Your available balance is {format_amount(balance, currency)}.",
        )
    payout = Payout.objects.create(
        user=actor,
        account=account,
        currency=currency,
        amount=Decimal(amount),
        automatic=automatic,
        request_key=key,
        next_attempt_at=timezone.now(),
    )
    note = "weekly automatic payout" if automatic else ""
    audit.record(
        actor, "payout.requested", payout, after=audit.snapshot(payout, audited.PAYOUT), note=note
    )
    ledger.move(
        source=available,
        destination=external,
        amount=amount,
        key=f"payout:{payout.pk}",
        memo=f"Payout {payout.pk}",
    )
    payout_id = payout.pk
    transaction.on_commit(lambda: _enqueue_send(payout_id))
    return payout


def _enqueue_send(payout_id: int) -> None:
    from escrow.tasks_payouts import send_payout_task

    try:
        send_payout_task.delay(payout_id)
    except Exception:  # a broker outage must not fail the request
        # The payout is queued with next_attempt_at set: retry_due_payouts sends it.
        log.exception("could not enqueue payout %s; the retry task will send it", payout_id)


def send_payout(
    *, payout_id: int, now_not_later: bool = False, actor: User | None = None
) -> Payout:
    """Make the provider Transfer for a queued or retrying payout that is due, or,
    with ``now_not_later`` (staff's "Retry now", ``actor``), without waiting out the backoff."""
    now = timezone.now()
    if not _claim(payout_id, now, ignore_backoff=now_not_later):
        return Payout.objects.get(pk=payout_id)
    return _deliver(payout_id, now, actor)


def _claimable(now: datetime, *, ignore_backoff: bool = False) -> Q:
    due = Q(status__in=[Payout.Status.QUEUED, Payout.Status.RETRYING])
    if not ignore_backoff:
        due &= Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    stuck = Q(status=Payout.Status.SENDING, updated_at__lt=now - STUCK_AFTER)
    return due | stuck


def _claim(payout_id: int, now: datetime, *, ignore_backoff: bool = False) -> bool:
    """One conditional UPDATE outside any transaction: exactly one worker wins a
    payout, and the provider call that follows holds no lock."""
    claimable = _claimable(now, ignore_backoff=ignore_backoff)
    claimed = Payout.objects.filter(claimable, pk=payout_id).update(
        status=Payout.Status.SENDING, updated_at=now
    )
    return claimed == 1


def _deliver(payout_id: int, now: datetime, actor: User | None = None) -> Payout:
    """Call the provider for a payout this worker has claimed, then record the result."""
    payout = Payout.objects.select_related("account").get(pk=payout_id)
    try:
        info = card_provider().create_transfer(
            amount=int(payout.amount),
            currency=payout.currency,
            destination=payout.account.account_id,
            metadata={"payout_id": str(payout.pk), "user_id": str(payout.user_id)},
            idempotency_key=f"payout-{payout.pk}",
        )
    except RailError as error:
        return _record_failure(payout_id, error, now, actor)
    return _record_paid(payout_id, info, actor)


@transaction.atomic(durable=True)
def _record_paid(payout_id: int, info: TransferInfo, actor: User | None) -> Payout:
    payout = Payout.objects.select_for_update().get(pk=payout_id)
    if payout.status != Payout.Status.SENDING:
        return payout
    before = audit.snapshot(payout, audited.PAYOUT)
    payout.status = Payout.Status.PAID
    payout.provider_transfer_id = info.id
    payout.paid_at = timezone.now()
    payout.attempts += 1
    payout.next_attempt_at = None
    payout.failure_message = ""
    payout.save()
    audit.record(
        actor,
        "payout.paid",
        payout,
        before=before,
        after=audit.snapshot(payout, audited.PAYOUT),
        note=info.id,
    )
    _tell(payout, "payout_sent", "Payout sent", f"{_amount(payout)} is on its way to your account.")
    return payout


@transaction.atomic(durable=True)
def _record_failure(payout_id: int, error: RailError, now: datetime, actor: User | None) -> Payout:
    payout = Payout.objects.select_for_update().get(pk=payout_id)
    if payout.status != Payout.Status.SENDING:
        return payout
    before = audit.snapshot(payout, audited.PAYOUT)
    payout.attempts += 1
    payout.failure_message = error.message[:500]
    if error.permanent or payout.attempts >= settings.PAYOUT_MAX_ATTEMPTS:
        payout.status = Payout.Status.FAILED
        payout.next_attempt_at = None
        payout.save()
        audit.record(
            actor,
            "payout.failed",
            payout,
            before=before,
            after=audit.snapshot(payout, audited.PAYOUT),
        )
        _give_back(payout, int(payout.amount), f"payout-return:{payout.pk}", "failed")
        _tell(
            payout,
            "payout_failed",
            "Payout failed",
            f"{_amount(payout)} could not be paid out ({payout.failure_message}) and is back "
            "in your available balance.",
        )
    else:
        payout.status = Payout.Status.RETRYING
        payout.next_attempt_at = now + backoff(payout.attempts)
        payout.save()
        audit.record(
            actor,
            "payout.retry_scheduled",
            payout,
            before=before,
            after=audit.snapshot(payout, audited.PAYOUT),
        )
        log.warning("payout %s failed (%s); retrying", payout.pk, error.message)
    return payout


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after ``attempts`` failed ones: 1, 4, 16 ... minutes."""
    # The exponent is bounded first: timedelta overflows long before a large power of 4.
    return min(BACKOFF_BASE * 4 ** min(max(attempts - 1, 0), 10), BACKOFF_CAP)


def retry_due_payouts(*, now: datetime | None = None) -> int:
    """Send payouts whose retry is due, or whose worker died mid-call; returns how many."""
    now = now or timezone.now()
    due = list(
        Payout.objects.filter(_claimable(now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:RETRY_BATCH]
    )
    sent = 0
    for payout_id in due:
        if _claim(payout_id, now):
            _deliver(payout_id, now)
            sent += 1
    return sent


# --- after the fact -----------------------------------------------------------------


def reverse_payout(*, transfer_id: str, amount_reversed: int) -> Payout | None:
    """Stripe took (part of) a transfer back: return the increase to the freelancer's
    available balance. ``amount_reversed`` is Stripe's cumulative total, so a
    replayed or older event moves nothing."""
    with transaction.atomic(durable=True):
        payout = Payout.objects.select_for_update().filter(provider_transfer_id=transfer_id).first()
        if payout is None:
            return None
        total = min(int(amount_reversed), int(payout.amount))
        increase = total - int(payout.reversed_amount)
        if increase <= 0:
            return payout
        _give_back(payout, increase, f"reversal:{payout.pk}:{total}", "reversed")
        before = audit.snapshot(payout, audited.PAYOUT)
        payout.reversed_amount = Decimal(total)
        if total >= payout.amount:
            payout.status = Payout.Status.REVERSED
        payout.save(update_fields=["reversed_amount", "status", "updated_at"])
        audit.record(
            None,
            "payout.reversed",
            payout,
            before=before,
            after=audit.snapshot(payout, audited.PAYOUT),
        )
        _tell(
            payout,
            "payout",
            "Payout reversed",
            f"{format_amount(increase, payout.currency)} of payout {payout.pk} was reversed "
            "and is back in your available balance.",
        )
    return payout


def run_auto_payouts(*, now: datetime | None = None) -> int:
    """Weekly payouts of whole balances; one per user, currency and ISO week."""
    now = now or timezone.now()
    year, week, _ = now.isocalendar()
    card_currencies = [code for code, spec in CURRENCIES.items() if spec.rail == Rail.CARD]
    balances = (
        LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.AVAILABLE,
            currency__in=card_currencies,
            balance__gte=settings.PAYOUT_MINIMUM,
            owner__payout_account__payouts_enabled=True,
            owner__payout_account__auto_payout_weekly=True,
        )
        .select_related("owner")
        .order_by("pk")
    )
    created = 0
    for balance in balances:
        assert balance.owner is not None  # available accounts always have one
        request_key = f"auto:{year}-W{week:02d}:{balance.currency}"
        if Payout.objects.filter(request_key=f"{balance.owner.pk}:{request_key}").exists():
            continue
        try:
            request_payout(
                actor=balance.owner,
                currency=balance.currency,
                amount=None,
                request_key=request_key,
                automatic=True,
            )
        except DomainError as error:
            # The balance moved since we read it; a later run tries again.
            log.info("auto payout skipped for %s: %s", balance, error.detail)
            continue
        created += 1
    return created


# --- shared steps -------------------------------------------------------------------


def _give_back(payout: Payout, amount: int, key: str, why: str) -> None:
    """Money that left for the connected account returns to the available balance."""
    ledger.move(
        source=ledger.external_account(Rail.CARD, payout.currency),
        destination=ledger.user_account(payout.user, LedgerAccount.Kind.AVAILABLE, payout.currency),
        amount=amount,
        key=key,
        memo=f"Payout {payout.pk} {why}",
    )


def _amount(payout: Payout) -> str:
    return format_amount(payout.amount, payout.currency)


def _tell(payout: Payout, verb: str, title: str, body: str) -> None:
    """Notify the payee; the notification is pushed live and e-mailed (per their
    preferences) once the change has committed."""
    data = {"amount": _amount(payout), "detail": body}
    notify(payout.user_id, verb, title, reverse("money"), target=payout, data=data)
