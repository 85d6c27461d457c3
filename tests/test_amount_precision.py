"""Amounts are exact to the wei on every database, and the embedded SQLite database
refuses what it could not hold exactly instead of rounding it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from escrow import ledger
from escrow.models import LedgerAccount
from marketplace.money import SQLITE_AMOUNT_LIMIT, AmountTooLarge
from tests.escrow.money import card_contract

pytestmark = pytest.mark.django_db

WEI = 1_234_567_890_123_456_789  # 19 significant digits: a float keeps only ~15


def test_a_milestone_amount_reads_back_to_the_wei() -> None:
    milestone = card_contract().milestones.first()
    assert milestone is not None
    milestone.amount = WEI
    milestone.save(update_fields=["amount"])
    milestone.refresh_from_db()
    assert milestone.amount == Decimal(WEI)


def test_ledger_moves_and_sums_keep_every_digit() -> None:
    client = card_contract().client
    source = ledger.external_account("chain", "eth")
    wallet = ledger.user_account(client, LedgerAccount.Kind.AVAILABLE, "eth")
    ledger.move(source=source, destination=wallet, amount=2 * 10**18 + 1, key="precision:1")
    ledger.move(source=source, destination=wallet, amount=3 * 10**18 + 7, key="precision:2")
    wallet.refresh_from_db()
    source.refresh_from_db()
    assert wallet.balance == 5 * 10**18 + 8
    assert source.balance == -(5 * 10**18 + 8)
    total = LedgerAccount.objects.filter(pk=wallet.pk).aggregate(total=Sum("balance"))["total"]
    assert total == 5 * 10**18 + 8


def test_sqlite_refuses_an_amount_it_cannot_hold_and_postgres_keeps_it() -> None:
    milestone = card_contract().milestones.first()
    assert milestone is not None
    milestone.amount = 2**70 + 1
    if connection.vendor == "sqlite":
        with pytest.raises(AmountTooLarge) as refused:
            milestone.save(update_fields=["amount"])
        assert refused.value.code == "amount_too_large"
        assert str(SQLITE_AMOUNT_LIMIT - 1) in refused.value.detail
    else:
        milestone.save(update_fields=["amount"])
        milestone.refresh_from_db()
        assert milestone.amount == 2**70 + 1
