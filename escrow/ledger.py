"""The one way money moves: ``move`` between two ledger accounts.

Every transfer carries an idempotency key derived from its cause (Stripe event
id, chain ``tx_hash:log_index``, API ``Idempotency-Key``): a replayed cause
returns the first transfer and writes nothing. Accounts are locked in primary
key order, so two transfers can't deadlock each other.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Sum, Value, When

from escrow.errors import InsufficientFunds, TransferKeyReused
from escrow.models import LedgerAccount, Transfer
from marketplace.models import Milestone, User
from smartpay.errors import DomainError

Kind = LedgerAccount.Kind


def _get_or_create(**lookup: Any) -> LedgerAccount:
    """Race-safe: a unique constraint backs every account's identity. Accounts exist
    almost always, so the plain read comes first and the savepoint only on a miss."""
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            account, _ = LedgerAccount.objects.get_or_create(**lookup)
            return account
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


def user_account(user: User, kind: str, currency: str) -> LedgerAccount:
    if kind not in (Kind.AVAILABLE, Kind.PENDING):
        raise ValueError(f"users have available and pending accounts, not {kind}")
    return _get_or_create(owner=user, kind=kind, currency=currency)


def escrow_account(milestone: Milestone) -> LedgerAccount:
    return _get_or_create(
        milestone=milestone, kind=Kind.ESCROW, currency=milestone.contract.currency
    )


def fee_account(currency: str) -> LedgerAccount:
    return _get_or_create(kind=Kind.FEES, currency=currency)


def external_account(rail: str, currency: str) -> LedgerAccount:
    return _get_or_create(kind=Kind.EXTERNAL, rail=rail, currency=currency)


# Lock order: users' and milestones' accounts by primary key, then the platform's
# (fees, external) by primary key. Every release touches the fee account and every
# card event the card account: taking them last holds those hot rows for the
# shortest time, and one order for everyone means no two services deadlock.
PLATFORM_KINDS = (Kind.FEES, Kind.EXTERNAL)
LOCK_ORDER = (Case(When(kind__in=PLATFORM_KINDS, then=Value(1)), default=Value(0)), "pk")


def lock_accounts(*accounts: LedgerAccount) -> dict[int, LedgerAccount]:
    """Lock every account a service is about to move money between, before its
    first ``move``; a service making several moves would otherwise collect its locks
    in the order of its moves. Returns the locked rows, fresh, by primary key."""
    rows = LedgerAccount.objects.select_for_update().filter(pk__in={a.pk for a in accounts})
    return {row.pk: row for row in rows.order_by(*LOCK_ORDER)}


def move(
    *,
    source: LedgerAccount,
    destination: LedgerAccount,
    amount: int,
    key: str,
    memo: str = "",
) -> Transfer:
    """Move ``amount`` minor units; the same ``key`` again returns the first transfer.

    Runs in the caller's transaction or its own. Raises InsufficientFunds, before
    writing anything, when the source would go below zero (external accounts may:
    they stand for money outside the system).
    """
    if isinstance(amount, bool) or int(amount) != amount or amount <= 0:
        raise DomainError("Amounts are positive whole minor units.", code="invalid_amount")
    if source.currency != destination.currency:
        raise DomainError("A transfer moves one currency.", code="currency_mismatch")
    # Inside the caller's transaction no savepoint is needed (nothing is written
    # before the last check), and atomic(savepoint=False) would doom the caller's
    # transaction on a refusal it may want to catch.
    in_transaction = transaction.get_connection().in_atomic_block
    with contextlib.nullcontext() if in_transaction else transaction.atomic():
        locked = lock_accounts(source, destination)
        # Under the locks a twin that moved first is committed and visible: replay it
        # rather than judge the balance it already spent.
        if Transfer.objects.filter(idempotency_key=key).exists():
            return _replay(key, source=source, destination=destination, amount=amount)
        if locked[source.pk].kind != Kind.EXTERNAL and locked[source.pk].balance < amount:
            raise InsufficientFunds()
        try:
            with transaction.atomic():
                transfer = Transfer.objects.create(
                    idempotency_key=key,
                    source=source,
                    destination=destination,
                    amount=Decimal(int(amount)),
                    currency=source.currency,
                    memo=memo[:200],
                )
        except IntegrityError:  # the same key between other accounts, just committed
            return _replay(key, source=source, destination=destination, amount=amount)
        # Decimal, not int: drivers refuse Python ints past 64 bits (wei amounts).
        exact = Decimal(int(amount))
        LedgerAccount.objects.filter(pk=source.pk).update(balance=F("balance") - exact)
        LedgerAccount.objects.filter(pk=destination.pk).update(balance=F("balance") + exact)
    return transfer


def _replay(
    key: str, *, source: LedgerAccount, destination: LedgerAccount, amount: int
) -> Transfer:
    first = Transfer.objects.get(idempotency_key=key)
    if (first.source_id, first.destination_id, first.amount) != (source.pk, destination.pk, amount):
        raise TransferKeyReused()
    return first


def find_problems() -> list[str]:
    """Ledger invariants 1 and 2 of DESIGN.md plus balance == sum of transfers.

    Returns one sentence per problem; an empty list means the ledger is sound.
    """
    problems: list[str] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    credits = dict(
        Transfer.objects.values("destination")
        .annotate(total=Sum("amount"))
        .values_list("destination", "total")
    )
    debits = dict(
        Transfer.objects.values("source")
        .annotate(total=Sum("amount"))
        .values_list("source", "total")
    )
    for account in LedgerAccount.objects.order_by("pk").iterator():
        totals[account.currency] += account.balance
        if account.kind != Kind.EXTERNAL and account.balance < 0:
            problems.append(f"{account} is negative: {account.balance}")
        expected = credits.get(account.pk, 0) - debits.get(account.pk, 0)
        if account.balance != expected:
            problems.append(f"{account} holds {account.balance} but its transfers say {expected}")
    for currency, total in sorted(totals.items()):
        if total != 0:
            problems.append(f"{currency} balances sum to {total}, not zero")
    return problems
