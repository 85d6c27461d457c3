"""The ledger: one function moves money, replays move nothing, balances never go negative."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.utils import IntegrityError

from escrow import ledger
from escrow.errors import InsufficientFunds, TransferKeyReused
from escrow.models import LedgerAccount, Transfer
from marketplace.money import Rail
from smartpay.errors import DomainError
from tests.factories import make_user


def funded_available(amount: int, currency: str = "usd") -> LedgerAccount:
    """A user's available balance, paid in from the card rail's external account."""
    account = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, currency)
    ledger.move(
        source=ledger.external_account(Rail.CARD, currency),
        destination=account,
        amount=amount,
        key=f"test-deposit:{account.pk}",
    )
    account.refresh_from_db()
    return account


def balance(account: LedgerAccount) -> int:
    account.refresh_from_db()
    return int(account.balance)


@pytest.mark.django_db
def test_move_debits_one_account_credits_the_other_and_sums_to_zero():
    payer = funded_available(10_000)
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd")
    transfer = ledger.move(source=payer, destination=payee, amount=2_500, key="t1", memo="rent")
    assert (balance(payer), balance(payee)) == (7_500, 2_500)
    assert transfer.amount == 2_500
    assert transfer.currency == "usd"
    assert balance(ledger.external_account(Rail.CARD, "usd")) == -10_000
    assert ledger.find_problems() == []


@pytest.mark.django_db
def test_replayed_key_returns_the_first_transfer_and_moves_nothing():
    payer = funded_available(10_000)
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd")
    first = ledger.move(source=payer, destination=payee, amount=1_000, key="evt_1")
    again = ledger.move(source=payer, destination=payee, amount=1_000, key="evt_1")
    assert again.pk == first.pk
    assert (balance(payer), balance(payee)) == (9_000, 1_000)
    assert Transfer.objects.filter(idempotency_key="evt_1").count() == 1


@pytest.mark.django_db
def test_same_key_for_a_different_movement_is_refused():
    payer = funded_available(10_000)
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd")
    ledger.move(source=payer, destination=payee, amount=1_000, key="evt_2")
    with pytest.raises(TransferKeyReused):
        ledger.move(source=payer, destination=payee, amount=1_001, key="evt_2")
    assert (balance(payer), balance(payee)) == (9_000, 1_000)


@pytest.mark.django_db
def test_overdraft_is_refused_and_writes_nothing():
    payer = funded_available(500)
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd")
    with pytest.raises(InsufficientFunds):
        ledger.move(source=payer, destination=payee, amount=501, key="too-much")
    assert not Transfer.objects.filter(idempotency_key="too-much").exists()
    assert (balance(payer), balance(payee)) == (500, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_amounts_are_positive_whole_minor_units(amount):
    payer = funded_available(500)
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd")
    with pytest.raises(DomainError):
        ledger.move(source=payer, destination=payee, amount=amount, key="bad")
    assert Transfer.objects.count() == 1  # the deposit only


@pytest.mark.django_db
def test_one_transfer_moves_one_currency():
    payer = funded_available(500, "usd")
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "eur")
    with pytest.raises(DomainError, match="one currency"):
        ledger.move(source=payer, destination=payee, amount=100, key="fx")


# SQLite stores NUMERIC values past 2**63 as REAL: exact wei needs PostgreSQL
# (the chain rail's embedded default must store such amounts another way).
@pytest.mark.postgres
@pytest.mark.django_db
def test_wei_amounts_beyond_64_bits_are_exact():
    ten_thousand_eth = 10_000 * 10**18  # far past 2**63
    account = funded_available(ten_thousand_eth, "eth")
    assert balance(account) == ten_thousand_eth
    assert ledger.find_problems() == []


@pytest.mark.django_db
def test_the_database_refuses_a_negative_balance_written_around_the_ledger():
    account = funded_available(100)
    with pytest.raises(IntegrityError):
        LedgerAccount.objects.filter(pk=account.pk).update(balance=-1)


@pytest.mark.django_db
def test_find_problems_reports_a_balance_its_transfers_do_not_explain():
    account = funded_available(100)
    LedgerAccount.objects.filter(pk=account.pk).update(balance=150)
    problems = ledger.find_problems()
    assert any("transfers say 100" in p for p in problems)
    assert any("sum to 50" in p for p in problems)


def _race(calls: list) -> list:
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - the test counts outcomes
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_withdrawals_never_overdraw():
    payer = funded_available(1_000)
    payees = [
        ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd") for _ in range(5)
    ]
    calls = [
        (lambda i=i: ledger.move(source=payer, destination=payees[i % 5], amount=100, key=f"w{i}"))
        for i in range(50)
    ]
    results = _race(calls)
    assert sum(isinstance(r, Transfer) for r in results) == 10
    assert sum(isinstance(r, InsufficientFunds) for r in results) == 40
    assert balance(payer) == 0
    assert ledger.find_problems() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deliveries_of_one_cause_move_money_once():
    payer = funded_available(1_000)
    payee = ledger.user_account(make_user(), LedgerAccount.Kind.AVAILABLE, "usd")
    results = _race(
        [(lambda: ledger.move(source=payer, destination=payee, amount=300, key="evt_same"))] * 20
    )
    assert all(isinstance(r, Transfer) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert (balance(payer), balance(payee)) == (700, 300)
    assert ledger.find_problems() == []


@pytest.mark.django_db
def test_check_ledger_command_says_sound_or_fails_with_each_problem(capsys):
    from django.core.management import CommandError, call_command

    account = funded_available(100)
    call_command("check_ledger")
    assert "Ledger is sound." in capsys.readouterr().out
    LedgerAccount.objects.filter(pk=account.pk).update(balance=90)
    with pytest.raises(CommandError, match="2 ledger problem"):
        call_command("check_ledger")
    assert "PROBLEM" in capsys.readouterr().err


@pytest.mark.django_db
def test_admin_shows_the_ledger_but_cannot_change_it(rf):
    from django.contrib.admin.sites import site

    request = rf.get("/")
    request.user = make_user(is_staff=True, is_superuser=True)
    for model in (LedgerAccount, Transfer):
        model_admin = site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
