"""The money paths under concurrency: many threads hit one milestone, one balance,
one request key or one settlement run at once, on PostgreSQL's row locks.

Every thread starts at one barrier and closes its own connection. A domain
error is a legal answer to a racing request; anything else (a deadlock, an
integrity error) fails the test.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, models, transaction
from django.db.models import Sum
from django.utils import timezone

from escrow import ledger
from escrow.errors import InsufficientFunds
from escrow.models import (
    Funding,
    FundingItem,
    LedgerAccount,
    Refund,
    Release,
    SandboxObject,
    Transfer,
)
from escrow.rails import sandbox
from escrow.services import funding as funding_services
from escrow.services import refunds as refund_services
from escrow.services import release as release_services
from marketplace.models import Contract, Milestone, MilestoneEvent, User
from marketplace.money import Rail
from marketplace.services import milestones as milestone_services
from smartpay.errors import DomainError, InvalidTransition
from tests.escrow.money import (
    balance,
    card_contract,
    escrow_of,
    fees,
    first_milestone,
    fund,
    submit,
    top_up,
)
from tests.factories import make_contract, make_job, make_proposal, verified_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Kind = LedgerAccount.Kind
HELD = (Milestone.Status.FUNDED, Milestone.Status.SUBMITTED)


def start_race(calls: list[Callable[[], Any]]) -> Callable[[], list[Any]]:
    """Start every call in its own thread, all released together by one barrier;
    return a function that waits for them and gives each result or the exception
    it raised."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - the test judges every outcome
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()

    def finish() -> list[Any]:
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
        return results

    return finish


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    return start_race(calls)()


@contextmanager
def row_locked(model: type[models.Model], pk: int) -> Iterator[None]:
    """Hold one row's lock in another session for the block, as a slow request
    would, so racing requests queue behind it in a known order."""
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(model._default_manager.select_for_update().filter(pk=pk))
                acquired.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert acquired.wait(timeout=10)
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=30)


def wait_for_lock_waiters(count: int) -> None:
    """Until ``count`` sessions of this database wait on a lock."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = cursor.fetchone()
            if row is not None and row[0] >= count:
                return
            assert time.monotonic() < deadline, f"fewer than {count} sessions queued"
            time.sleep(0.01)


def unexpected(results: list[Any]) -> list[Any]:
    """Outcomes that no racing request should ever see."""
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]


def assert_money_conserved() -> None:
    """Invariant 1 spelled out: what the users, escrows and fees hold is exactly what
    came in from outside, minus what went out."""
    inside = LedgerAccount.objects.exclude(kind=Kind.EXTERNAL).aggregate(total=Sum("balance"))
    outside = LedgerAccount.objects.filter(kind=Kind.EXTERNAL).aggregate(total=Sum("balance"))
    assert (inside["total"] or 0) == -(outside["total"] or 0)


def assert_escrow_matches_status(milestone: Milestone) -> None:
    milestone.refresh_from_db()
    expected = int(milestone.amount) if milestone.status in HELD else 0
    assert escrow_of(milestone) == expected, (milestone.status, escrow_of(milestone))


def assert_ledger_sound() -> None:
    assert ledger.find_problems() == []
    assert_money_conserved()


# --- one milestone, fifty approvals ---------------------------------------------------


def test_fifty_simultaneous_approvals_release_the_milestone_once():
    # Two milestones, so the contract stays active and the losers see the milestone's state.
    contract = card_contract((100_000, 150_000))
    milestone = submit(fund(first_milestone(contract)))
    client = contract.client

    def approve() -> Release:
        return release_services.approve_milestone(actor=client, milestone_id=milestone.pk)

    results = race([approve] * 50)

    assert unexpected(results) == []
    assert sum(isinstance(r, Release) for r in results) == 1
    assert sum(isinstance(r, InvalidTransition) for r in results) == 49
    assert Release.objects.filter(milestone=milestone).count() == 1
    keys = list(
        Transfer.objects.filter(source__milestone=milestone).values_list(
            "idempotency_key", flat=True
        )
    )
    assert sorted(keys) == sorted([f"release:{milestone.pk}", f"fee:{milestone.pk}"])
    assert balance(contract.freelancer, "pending") == 90_000
    assert fees() == 10_000
    assert balance(client) == 0
    assert_escrow_matches_status(milestone)
    assert milestone.status == Milestone.Status.RELEASED
    assert MilestoneEvent.objects.filter(milestone=milestone, to_status="released").count() == 1
    assert_ledger_sound()


# --- funding, refund and approval racing on one milestone --------------------------------


def start_card(client: User, milestone: Milestone, *, pay: bool) -> Funding:
    funding = funding_services.start_funding(
        actor=client, milestone_ids=[milestone.pk], request_key=f"card-{uuid.uuid4()}"
    )
    assert funding.payment_intent_id
    if pay:
        sandbox.confirm_payment(funding.payment_intent_id, sandbox.SUCCEEDING_CARD)
    return funding


def confirm(funding: Funding) -> Funding | None:
    assert funding.payment_intent_id
    return funding_services.confirm_funding(
        payment_intent_id=funding.payment_intent_id,
        amount_received=int(funding.amount),
        currency=funding.currency,
    )


def prepare_round(rng: random.Random) -> tuple[Contract, Milestone, list[Funding], str]:
    """A milestone in a random state, with two paid card payments whose webhooks are
    still to come (the client paid in two tabs): the first was superseded by the
    second, which may already be confirmed."""
    amounts = rng.choice([(40_000,), (40_000, 25_000)])
    contract = card_contract(amounts)
    milestone = first_milestone(contract)
    client = contract.client
    top_up(client, 40_000)  # enough for one balance funding
    first = start_card(client, milestone, pay=True)
    second = start_card(client, milestone, pay=True)
    start = rng.choice(["draft", "funded", "submitted", "funded_by_balance"])
    if start in ("funded", "submitted"):
        confirm(second)
    if start == "funded_by_balance":
        funding_services.start_funding(
            actor=client,
            milestone_ids=[milestone.pk],
            request_key=f"balance-{uuid.uuid4()}",
            source="balance",
        )
    if start == "submitted":
        submit(milestone)
    return contract, milestone, [first, second], start


def racing_calls(
    contract: Contract, milestone: Milestone, card_fundings: list[Funding], destination: str | None
) -> list[Callable[[], Any]]:
    """Both card webhooks, a balance funding, the freelancer's refund, the client's
    approval and a submission, all for one milestone."""
    client, freelancer = contract.client, contract.freelancer
    return [
        lambda: confirm(card_fundings[0]),
        lambda: confirm(card_fundings[1]),
        lambda: funding_services.start_funding(
            actor=client,
            milestone_ids=[milestone.pk],
            request_key=f"balance-{uuid.uuid4()}",
            source="balance",
        ),
        lambda: refund_services.refund_milestone(
            actor=freelancer, milestone_id=milestone.pk, destination=destination
        ),
        lambda: release_services.approve_milestone(actor=client, milestone_id=milestone.pk),
        lambda: milestone_services.submit_milestone(
            actor=freelancer, milestone_id=milestone.pk, message="Done."
        ),
    ]


def test_funding_refund_and_approval_racing_always_leave_a_legal_state():
    rng = random.Random(20_251)
    outcomes: set[str] = set()
    for _ in range(20):
        contract, milestone, card_fundings, start = prepare_round(rng)
        client, freelancer = contract.client, contract.freelancer
        fees_before = fees()
        destination = rng.choice([None, "balance", "card"])
        calls = racing_calls(contract, milestone, card_fundings, destination)
        rng.shuffle(calls)
        results = race(calls)

        assert unexpected(results) == [], (start, results)
        assert_escrow_matches_status(milestone)
        outcomes.add(milestone.status)
        assert_ledger_sound()
        # Every card payment that arrived is booked exactly once, whatever it found.
        for funding in card_fundings:
            assert funding.payment_intent_id
            charged = Transfer.objects.filter(idempotency_key=f"charge:{funding.payment_intent_id}")
            assert charged.count() == 1
        applied = FundingItem.objects.filter(milestone=milestone, applied=True).count()
        assert applied == (0 if milestone.status == Milestone.Status.DRAFT else 1)
        released = Release.objects.filter(milestone=milestone).count()
        refunded = Refund.objects.filter(milestone=milestone).count()
        assert released == (milestone.status == Milestone.Status.RELEASED)
        assert refunded == (milestone.status == Milestone.Status.REFUNDED)
        # This round's money: the top-up and both charges came in, card refunds went out.
        came_in = 40_000 + sum(int(f.amount) for f in card_fundings)
        went_out = int(
            Refund.objects.filter(milestone=milestone, destination="card").aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
        held = sum(escrow_of(m) for m in contract.milestones.all())
        users = (
            balance(client)
            + balance(freelancer, "pending")
            + balance(freelancer)
            + balance(client, "pending")
        )
        assert users + held + fees() - fees_before == came_in - went_out
    # The random states and orders reached more than one ending.
    assert len(outcomes) > 1


# --- one balance, twenty fundings ---------------------------------------------------------


def test_balance_fundings_from_one_balance_fund_exactly_what_it_covers():
    client = verified_user(is_client=True)
    freelancer = verified_user(is_client=False, is_freelancer=True)
    milestones = [
        first_milestone(make_contract(make_proposal(make_job(client), freelancer, (10_000,))))
        for _ in range(20)
    ]
    top_up(client, 75_000)

    def fund_from_balance(milestone: Milestone) -> Callable[[], Funding]:
        return lambda: funding_services.start_funding(
            actor=client,
            milestone_ids=[milestone.pk],
            request_key=f"balance-{milestone.pk}",
            source="balance",
        )

    results = race([fund_from_balance(m) for m in milestones])

    assert unexpected(results) == []
    assert sum(isinstance(r, Funding) for r in results) == 7
    assert sum(isinstance(r, InsufficientFunds) for r in results) == 13
    assert balance(client) == 5_000
    assert Milestone.objects.filter(pk__in=[m.pk for m in milestones], status="funded").count() == 7
    assert Funding.objects.filter(client=client, status=Funding.Status.SUCCEEDED).count() == 7
    for milestone in milestones:
        assert_escrow_matches_status(milestone)
    assert_ledger_sound()


# --- settlement runs twice at once --------------------------------------------------------


def test_concurrent_settlement_runs_release_and_mature_each_milestone_once():
    contracts = [card_contract((30_000, 20_000)) for _ in range(3)]
    milestones = [submit(fund(m)) for c in contracts for m in c.milestones.order_by("position")]
    now = timezone.now()
    Milestone.objects.filter(pk__in=[m.pk for m in milestones]).update(
        review_deadline=now - timedelta(minutes=1)
    )

    released = race([lambda: release_services.auto_release_due(now=now)] * 4)

    assert unexpected(released) == []
    assert sum(released) == 6
    assert Release.objects.count() == 6
    assert Transfer.objects.filter(idempotency_key__startswith="release:").count() == 6
    for milestone in milestones:
        assert_escrow_matches_status(milestone)
        assert milestone.status == Milestone.Status.RELEASED
    assert Contract.objects.filter(status=Contract.Status.COMPLETED).count() == 3

    later = now + timedelta(days=6)
    matured = race([lambda: release_services.make_releases_available(now=later)] * 4)

    assert unexpected(matured) == []
    assert sum(matured) == 6
    assert Transfer.objects.filter(idempotency_key__startswith="mature:").count() == 6
    assert not Release.objects.filter(status=Release.Status.PENDING).exists()
    for contract in contracts:
        assert balance(contract.freelancer, "pending") == 0
        assert balance(contract.freelancer) == 45_000  # 50,000 less the 10 % fee
    assert fees() == 15_000
    assert_ledger_sound()


# --- one request key, thirty requests -------------------------------------------------------


def thirty_twins(contract: Contract, start: Callable[[], Funding]) -> list[Any]:
    """Thirty requests with one key, all past the service's look-up for an earlier
    funding before the first of them commits: they queue behind the contract's lock."""
    with row_locked(Contract, contract.pk):
        finish = start_race([start] * 30)
        wait_for_lock_waiters(30)
    return finish()


def test_thirty_card_fundings_with_one_request_key_make_one_funding():
    contract = card_contract()
    milestone = first_milestone(contract)
    client = contract.client

    def start() -> Funding:
        return funding_services.start_funding(
            actor=client, milestone_ids=[milestone.pk], request_key="double-click"
        )

    results = thirty_twins(contract, start)

    assert unexpected(results) == []
    assert all(isinstance(r, Funding) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Funding.objects.count() == 1
    funding = Funding.objects.get()
    assert funding.status == Funding.Status.PENDING
    assert {r.payment_intent_id for r in results} == {funding.payment_intent_id}
    assert SandboxObject.objects.filter(kind=sandbox.PAYMENT_INTENT).count() == 1
    assert not Transfer.objects.exists()


def test_thirty_balance_fundings_with_one_request_key_make_one_funding():
    contract = card_contract()
    milestone = first_milestone(contract)
    client = contract.client
    top_up(client, 300_000)

    def start() -> Funding:
        return funding_services.start_funding(
            actor=client, milestone_ids=[milestone.pk], request_key="retry", source="balance"
        )

    results = thirty_twins(contract, start)

    assert unexpected(results) == []
    # The same key answers with the same funding, as a sequential replay does.
    assert all(isinstance(r, Funding) for r in results), {type(r).__name__ for r in results}
    assert len({r.pk for r in results}) == 1
    assert Funding.objects.count() == 1
    assert balance(client) == 200_000
    assert_escrow_matches_status(milestone)
    assert_ledger_sound()


# --- two contracts of one client ----------------------------------------------------------


def test_a_card_refund_queued_behind_a_card_payment_of_the_same_client_does_not_deadlock():
    """The interleaving that deadlocked when each move took its own locks: a card
    payment webhook (card -> balance -> escrow) waits for the card account, then a
    refund to the card (escrow -> balance -> card) on another contract of the same
    client takes the balance and waits for the card account too. Lock every account
    up front, in key order, and they simply queue."""
    external = ledger.external_account(Rail.CARD, "usd")
    client = verified_user(is_client=True)
    freelancer = verified_user(is_client=False, is_freelancer=True)
    refunded = fund(
        first_milestone(make_contract(make_proposal(make_job(client), freelancer, (10_000,))))
    )
    paid = first_milestone(make_contract(make_proposal(make_job(client), freelancer, (7_000,))))
    funding = start_card(client, paid, pay=True)

    with row_locked(LedgerAccount, external.pk):
        webhook = start_race([lambda: confirm(funding)])
        wait_for_lock_waiters(1)
        refund = start_race(
            [
                lambda: refund_services.refund_milestone(
                    actor=freelancer, milestone_id=refunded.pk, destination="card"
                )
            ]
        )
        wait_for_lock_waiters(2)
    results = webhook() + refund()

    assert unexpected(results) == [], [repr(r) for r in unexpected(results)]
    assert isinstance(results[0], Funding)
    assert isinstance(results[1], Refund)
    assert_escrow_matches_status(paid)
    assert_escrow_matches_status(refunded)
    assert paid.status == Milestone.Status.FUNDED
    assert refunded.status == Milestone.Status.REFUNDED
    assert balance(client) == 0
    assert_ledger_sound()


def test_card_refunds_and_card_payments_of_one_client_never_deadlock():
    """A refund to the card (escrow -> balance -> card) on one contract and a card
    payment (card -> balance -> escrow) on another both hold the client's balance
    and the card account; they must queue, not deadlock."""
    # As in production, the card account is older than the client's balance.
    ledger.external_account(Rail.CARD, "usd")
    client = verified_user(is_client=True)
    freelancer = verified_user(is_client=False, is_freelancer=True)
    pairs = []
    for _ in range(10):
        refunded = first_milestone(
            make_contract(make_proposal(make_job(client), freelancer, (10_000,)))
        )
        fund(refunded)
        paid = first_milestone(make_contract(make_proposal(make_job(client), freelancer, (7_000,))))
        pairs.append((refunded, start_card(client, paid, pay=True)))

    def refund_to_card(milestone: Milestone) -> Callable[[], Refund]:
        return lambda: refund_services.refund_milestone(
            actor=freelancer, milestone_id=milestone.pk, destination="card"
        )

    def webhook(funding: Funding) -> Callable[[], Funding | None]:
        return lambda: confirm(funding)

    calls: list[Callable[[], Any]] = []
    for refunded, funding in pairs:
        calls += [refund_to_card(refunded), webhook(funding)]
    results = race(calls)

    assert unexpected(results) == [], [repr(r) for r in unexpected(results)]
    assert Refund.objects.filter(client=client).count() == 10
    assert Milestone.objects.filter(contract__client=client, status="funded").count() == 10
    assert balance(client) == 0
    assert_ledger_sound()
