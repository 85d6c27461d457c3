"""Random sequences of money actions against a model of what they should do.

A hypothesis state machine creates contracts and funds, submits, revises,
approves, refunds and pays out through the real services (sandbox provider),
with the clock moved forward for the periodic tasks. It keeps its own book of
every balance, milestone and contract, and after every step compares it with
the ledger and checks the invariants of DESIGN.md. A domain error is a legal
outcome only where the model says the action is not allowed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from escrow import ledger
from escrow.errors import InsufficientFunds
from escrow.models import Funding, LedgerAccount, Payout, Refund, RefundRequest, Release
from escrow.rails import RailError, sandbox
from escrow.services import funding as funding_services
from escrow.services import payout_accounts
from escrow.services import payouts as payout_services
from escrow.services import refunds as refund_services
from escrow.services import release as release_services
from marketplace.models import Contract, Milestone, User
from marketplace.services import milestones as milestone_services
from smartpay.errors import DomainError
from tests.escrow.money import top_up
from tests.factories import make_contract, make_job, make_proposal, verified_user

S = Milestone.Status
Kind = LedgerAccount.Kind
HELD = (S.FUNDED, S.SUBMITTED)
FINAL = (S.RELEASED, S.REFUNDED, S.RESOLVED)
CURRENCY = "usd"
picks = st.integers(min_value=0, max_value=10_000)
# Mostly aim at targets the action suits, sometimes at anything (to be refused).
aims = st.sampled_from([True, True, True, False])


@dataclass
class ModelMilestone:
    contract_id: int
    amount: int
    status: str = S.DRAFT
    funded_by: str | None = None  # the source of the funding whose money is in escrow
    review_deadline: datetime | None = None


@dataclass
class ModelContract:
    client: User
    freelancer: User
    fee_bps: int
    milestone_ids: list[int]
    active: bool = True


@dataclass
class ModelFunding:
    client: User
    contract_id: int
    payment_intent_id: str
    items: list[tuple[int, int]]
    charged: bool = False

    @property
    def amount(self) -> int:
        return sum(amount for _, amount in self.items)


@dataclass
class ModelRefundRequest:
    pk: int
    milestone_id: int
    destination: str
    respond_by: datetime


@dataclass
class ModelRelease:
    pk: int
    freelancer: User
    share: int
    available_at: datetime
    matured: bool = False


@dataclass
class Book:
    """What every account should hold; fees and the card account as changes since
    the machine started."""

    available: dict[int, int] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=dict)
    escrow: dict[int, int] = field(default_factory=dict)
    fees: int = 0
    external: int = 0


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Each run starts from the same database and leaves nothing behind.
        self.savepoint = transaction.savepoint()
        self.book = Book()
        self.contracts: dict[int, ModelContract] = {}
        self.milestones: dict[int, ModelMilestone] = {}
        self.fundings: dict[int, ModelFunding] = {}
        self.requests: dict[int, ModelRefundRequest] = {}
        self.releases: list[ModelRelease] = []
        self.card_refunds: list[int] = []
        self.now = timezone.now()
        self.fees_start = self._global(Kind.FEES)
        self.external_start = self._global(Kind.EXTERNAL)

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    # --- setup -----------------------------------------------------------------------

    @initialize(
        amounts=st.lists(st.integers(min_value=1, max_value=300_000), min_size=1, max_size=3),
        starts=st.lists(
            st.sampled_from(["draft", "card", "balance", "submitted"]), min_size=3, max_size=3
        ),
    )
    def people(self, amounts: list[int], starts: list[str]) -> None:
        """Two clients, two freelancers with payout accounts, and a first contract whose
        milestones start in random states (so short runs reach the later steps)."""
        self.clients = [verified_user(is_client=True) for _ in range(2)]
        self.freelancers = [verified_user(is_client=False, is_freelancer=True) for _ in range(2)]
        for freelancer in self.freelancers:
            payout_accounts.connect_payout_account(
                actor=freelancer, return_url="/payouts/", refresh_url="/payouts/"
            )
            account_id = freelancer.payout_account.account_id
            sandbox.complete_onboarding(account_id)
            account = payout_accounts.sync_payout_account(account_id=account_id)
            assert account is not None
            assert account.payouts_enabled
        for user in self.people_list:
            self.book.available[user.pk] = 0
            self.book.pending[user.pk] = 0
        terms = self.new_contract(self.clients[0], self.freelancers[0], amounts)
        for milestone_id, start in zip(terms.milestone_ids, starts, strict=False):
            if start == "draft":
                continue
            key = str(uuid.uuid4())
            if start == "balance":
                self.top_up(0, self.milestones[milestone_id].amount)
                funding = funding_services.start_funding(
                    actor=terms.client,
                    milestone_ids=[milestone_id],
                    request_key=key,
                    source="balance",
                )
                self.book_balance_funding(funding, terms, [milestone_id])
                continue
            funding = funding_services.start_funding(
                actor=terms.client, milestone_ids=[milestone_id], request_key=key
            )
            self.pay_by_card(funding, "confirmed")
            if start == "submitted":
                milestone_services.submit_milestone(
                    actor=terms.freelancer, milestone_id=milestone_id, message="Early work."
                )
                self.book_submission(milestone_id)

    @property
    def people_list(self) -> list[User]:
        return [*self.clients, *self.freelancers]

    # --- helpers -----------------------------------------------------------------------

    def _global(self, kind: str) -> int:
        total = LedgerAccount.objects.filter(kind=kind, currency=CURRENCY).aggregate(
            total=Sum("balance")
        )["total"]
        return int(total or 0)

    def pick(self, ids: list[int], index: int) -> int:
        return sorted(ids)[index % len(ids)]

    def refused(
        self, action: Callable[[], object], *, error: type[Exception] = DomainError
    ) -> Exception:
        """The model says no: the service must refuse with a domain error."""
        with pytest.raises(error) as refused:
            action()
        return refused.value

    def charge(self, funding: ModelFunding) -> None:
        """A card payment's succeeded event: the charge lands in the client's balance,
        then funds each milestone still waiting for money."""
        if funding.charged:
            return
        funding.charged = True
        client = funding.client.pk
        self.book.external -= funding.amount
        self.book.available[client] += funding.amount
        contract = self.contracts[funding.contract_id]
        for milestone_id, amount in funding.items:
            milestone = self.milestones[milestone_id]
            if milestone.status == S.DRAFT and contract.active:
                self.book.available[client] -= amount
                self.book.escrow[milestone_id] = amount
                milestone.status = S.FUNDED
                milestone.funded_by = Funding.Source.CARD

    def confirm(self, funding_id: int) -> None:
        funding = self.fundings[funding_id]
        confirmed = funding_services.confirm_funding(
            payment_intent_id=funding.payment_intent_id,
            amount_received=funding.amount,
            currency=CURRENCY,
        )
        assert confirmed is not None
        assert confirmed.status == Funding.Status.SUCCEEDED
        self.charge(funding)

    def settle_contract(self, contract_id: int) -> None:
        contract = self.contracts[contract_id]
        if all(self.milestones[m].status in FINAL for m in contract.milestone_ids):
            contract.active = False

    def refund_destination(self, milestone_id: int, destination: str | None) -> str | None:
        """Where a refund goes, or None when the service must refuse it."""
        milestone = self.milestones[milestone_id]
        request = self.open_request(milestone_id)
        if destination is None:
            if request is not None:
                destination = request.destination
            elif milestone.funded_by == Funding.Source.CARD:
                destination = Refund.Destination.CARD
            else:
                destination = Refund.Destination.BALANCE
        if destination == Refund.Destination.CARD and milestone.funded_by != Funding.Source.CARD:
            return None
        return destination

    def open_request(self, milestone_id: int) -> ModelRefundRequest | None:
        return next((r for r in self.requests.values() if r.milestone_id == milestone_id), None)

    def book_refund(self, milestone_id: int, destination: str) -> None:
        milestone = self.milestones[milestone_id]
        client = self.contracts[milestone.contract_id].client.pk
        held = self.book.escrow[milestone_id]
        self.book.escrow[milestone_id] = 0
        if destination == Refund.Destination.CARD:
            self.book.external += held
        else:
            self.book.available[client] += held
        milestone.status = S.REFUNDED
        request = self.open_request(milestone_id)
        if request is not None:
            del self.requests[request.pk]
        self.settle_contract(milestone.contract_id)

    def book_release(self, milestone_id: int, release: Release, amount: int | None) -> None:
        milestone = self.milestones[milestone_id]
        contract = self.contracts[milestone.contract_id]
        held = self.book.escrow[milestone_id]
        released = held if amount is None else amount
        fee = released * contract.fee_bps // 10_000
        assert (int(release.amount), int(release.fee)) == (released, fee)
        self.book.escrow[milestone_id] = 0
        self.book.pending[contract.freelancer.pk] += released - fee
        self.book.fees += fee
        self.book.available[contract.client.pk] += held - released
        milestone.status = S.RELEASED
        milestone.review_deadline = None
        self.releases.append(
            ModelRelease(release.pk, contract.freelancer, released - fee, release.available_at)
        )
        self.settle_contract(milestone.contract_id)

    # --- contracts and money in ------------------------------------------------------

    @precondition(lambda self: len(self.contracts) < 5)
    @rule(
        client=picks,
        freelancer=picks,
        amounts=st.lists(st.integers(min_value=1, max_value=300_000), min_size=1, max_size=3),
    )
    def create_contract(self, client: int, freelancer: int, amounts: list[int]) -> None:
        self.new_contract(self.clients[client % 2], self.freelancers[freelancer % 2], amounts)

    def new_contract(self, buyer: User, seller: User, amounts: list[int]) -> ModelContract:
        contract = make_contract(make_proposal(make_job(buyer), seller, tuple(amounts)))
        milestones = list(contract.milestones.order_by("position"))
        self.contracts[contract.pk] = ModelContract(
            buyer, seller, contract.fee_bps, [m.pk for m in milestones]
        )
        for milestone in milestones:
            self.milestones[milestone.pk] = ModelMilestone(contract.pk, int(milestone.amount))
            self.book.escrow[milestone.pk] = 0
        return self.contracts[contract.pk]

    @rule(who=picks, amount=st.integers(min_value=1, max_value=500_000))
    def top_up(self, who: int, amount: int) -> None:
        user = self.people_list[who % len(self.people_list)]
        top_up(user, amount)
        self.book.available[user.pk] += amount
        self.book.external -= amount

    def chosen(self, index: int, mask: int, aim: bool) -> tuple[ModelContract, list[int]]:
        """A contract and some of its milestones; aimed: unfunded ones of an active contract."""
        fundable = {
            pk: [m for m in c.milestone_ids if self.milestones[m].status == S.DRAFT]
            for pk, c in self.contracts.items()
            if c.active
        }
        fundable = {pk: ids for pk, ids in fundable.items() if ids}
        if aim and fundable:
            contract_id = self.pick(list(fundable), index)
            candidates = fundable[contract_id]
        else:
            contract_id = self.pick(list(self.contracts), index)
            candidates = self.contracts[contract_id].milestone_ids
        ids = [m for bit, m in enumerate(candidates) if mask >> bit & 1]
        return self.contracts[contract_id], ids or candidates[:1]

    @precondition(lambda self: self.contracts)
    @rule(
        contract=picks,
        mask=st.integers(min_value=1, max_value=7),
        aim=aims,
        outcome=st.sampled_from(["confirmed", "replayed", "declined_first", "webhook_late"]),
    )
    def fund_by_card(self, contract: int, mask: int, aim: bool, outcome: str) -> None:
        terms, ids = self.chosen(contract, mask, aim)

        def start() -> Funding:
            return funding_services.start_funding(
                actor=terms.client, milestone_ids=ids, request_key=str(uuid.uuid4())
            )

        if not terms.active or any(self.milestones[m].status != S.DRAFT for m in ids):
            self.refused(start)
            return
        self.pay_by_card(start(), outcome)

    def pay_by_card(self, funding: Funding, outcome: str) -> None:
        """The client pays on the checkout page; the succeeded event follows (or not yet)."""
        intent = funding.payment_intent_id
        assert funding.status == Funding.Status.PENDING
        assert intent
        ids = list(funding.items.order_by("milestone_id").values_list("milestone_id", flat=True))
        items = [(m, self.milestones[m].amount) for m in ids]
        self.fundings[funding.pk] = ModelFunding(funding.client, funding.contract_id, intent, items)
        assert int(funding.amount) == self.fundings[funding.pk].amount
        if outcome == "declined_first":
            self.refused(
                lambda: sandbox.confirm_payment(intent, sandbox.DECLINED_CARD), error=RailError
            )
        sandbox.confirm_payment(intent, sandbox.SUCCEEDING_CARD)
        if outcome == "webhook_late":
            return  # paid; the succeeded event arrives in a later step
        self.confirm(funding.pk)
        if outcome == "replayed":
            self.confirm(funding.pk)

    @precondition(lambda self: any(not f.charged for f in self.fundings.values()))
    @rule(which=picks)
    def late_card_webhook(self, which: int) -> None:
        """The succeeded event of a payment made earlier, perhaps superseded since."""
        waiting = [pk for pk, f in self.fundings.items() if not f.charged]
        self.confirm(self.pick(waiting, which))

    @precondition(lambda self: self.contracts)
    @rule(contract=picks, mask=st.integers(min_value=1, max_value=7), aim=aims)
    def fund_from_balance(self, contract: int, mask: int, aim: bool) -> None:
        terms, ids = self.chosen(contract, mask, aim)

        def start() -> Funding:
            return funding_services.start_funding(
                actor=terms.client,
                milestone_ids=ids,
                request_key=str(uuid.uuid4()),
                source="balance",
            )

        total = sum(self.milestones[m].amount for m in ids)
        if not terms.active or any(self.milestones[m].status != S.DRAFT for m in ids):
            self.refused(start)
            return
        if total > self.book.available[terms.client.pk]:
            self.refused(start, error=InsufficientFunds)
            return
        self.book_balance_funding(start(), terms, ids)

    def book_balance_funding(self, funding: Funding, terms: ModelContract, ids: list[int]) -> None:
        assert funding.status == Funding.Status.SUCCEEDED
        for milestone_id in ids:
            milestone = self.milestones[milestone_id]
            self.book.available[terms.client.pk] -= milestone.amount
            self.book.escrow[milestone_id] = milestone.amount
            milestone.status = S.FUNDED
            milestone.funded_by = Funding.Source.BALANCE

    # --- work and review ---------------------------------------------------------------

    def milestone_and_contract(
        self, index: int, aim: bool, *statuses: str
    ) -> tuple[int, ModelMilestone, ModelContract]:
        """A milestone; aimed: one in ``statuses`` on an active contract, if any."""
        suitable = [
            pk
            for pk, m in self.milestones.items()
            if m.status in statuses and self.contracts[m.contract_id].active
        ]
        milestone_id = self.pick(suitable if aim and suitable else list(self.milestones), index)
        milestone = self.milestones[milestone_id]
        return milestone_id, milestone, self.contracts[milestone.contract_id]

    @precondition(lambda self: self.milestones)
    @rule(which=picks, aim=aims)
    def submit(self, which: int, aim: bool) -> None:
        milestone_id, milestone, contract = self.milestone_and_contract(which, aim, S.FUNDED)

        def deliver() -> None:
            milestone_services.submit_milestone(
                actor=contract.freelancer, milestone_id=milestone_id, message="Here it is."
            )

        if not contract.active or milestone.status != S.FUNDED:
            self.refused(deliver)
            return
        deliver()
        self.book_submission(milestone_id)

    def book_submission(self, milestone_id: int) -> None:
        milestone = self.milestones[milestone_id]
        milestone.status = S.SUBMITTED
        milestone.review_deadline = Milestone.objects.get(pk=milestone_id).review_deadline

    @precondition(lambda self: self.milestones)
    @rule(which=picks, aim=aims)
    def request_revision(self, which: int, aim: bool) -> None:
        milestone_id, milestone, contract = self.milestone_and_contract(which, aim, S.SUBMITTED)

        def send_back() -> None:
            milestone_services.request_revision(
                actor=contract.client, milestone_id=milestone_id, reason="Not quite."
            )

        if not contract.active or milestone.status != S.SUBMITTED:
            self.refused(send_back)
            return
        send_back()
        milestone.status = S.FUNDED
        milestone.review_deadline = None

    @precondition(lambda self: self.milestones)
    @rule(
        which=picks,
        aim=aims,
        how=st.sampled_from(["full", "partial", "zero", "negative", "too_much"]),
        share=st.floats(min_value=0, max_value=1),
    )
    def approve(self, which: int, aim: bool, how: str, share: float) -> None:
        milestone_id, milestone, contract = self.milestone_and_contract(which, aim, S.SUBMITTED)
        held = self.book.escrow[milestone_id]
        amount = {
            "full": None,
            "partial": max(1, round(held * share)),
            "zero": 0,
            "negative": -1,
            "too_much": held + 1,
        }[how]

        def release() -> Release:
            return release_services.approve_milestone(
                actor=contract.client, milestone_id=milestone_id, amount=amount
            )

        valid = amount is None or 0 < amount <= held
        if not contract.active or milestone.status != S.SUBMITTED or not valid:
            self.refused(release)
            return
        self.book_release(milestone_id, release(), amount)

    # --- refunds -------------------------------------------------------------------------

    @precondition(lambda self: self.milestones)
    @rule(
        which=picks,
        aim=aims,
        destination=st.sampled_from([None, "card", "balance"]),
        task_runs=st.booleans(),
    )
    def refund(self, which: int, aim: bool, destination: str | None, task_runs: bool) -> None:
        milestone_id, milestone, contract = self.milestone_and_contract(which, aim, S.FUNDED)

        def give_back() -> Refund:
            return refund_services.refund_milestone(
                actor=contract.freelancer, milestone_id=milestone_id, destination=destination
            )

        resolved = self.refund_destination(milestone_id, destination)
        if not contract.active or milestone.status != S.FUNDED or resolved is None:
            self.refused(give_back)
            return
        refund = give_back()
        assert refund.destination == resolved
        assert int(refund.amount) == self.book.escrow[milestone_id]
        self.book_refund(milestone_id, resolved)
        if resolved == Refund.Destination.CARD:
            if task_runs:  # the on-commit task; otherwise the retry task sends it later
                sent = refund_services.send_card_refund(refund_id=refund.pk)
                assert sent.status == Refund.Status.SUCCEEDED, sent.failure_message
            else:
                self.card_refunds.append(refund.pk)

    @precondition(lambda self: self.milestones)
    @rule(which=picks, aim=aims, destination=st.sampled_from(["card", "balance"]))
    def request_refund(self, which: int, aim: bool, destination: str) -> None:
        milestone_id, milestone, contract = self.milestone_and_contract(which, aim, S.FUNDED)

        def ask() -> None:
            refund_services.request_refund(
                actor=contract.client,
                milestone_id=milestone_id,
                reason="Plans changed.",
                destination=destination,
            )

        allowed = (
            contract.active
            and milestone.status == S.FUNDED
            and self.open_request(milestone_id) is None
            and not (destination == "card" and milestone.funded_by != Funding.Source.CARD)
        )
        if not allowed:
            self.refused(ask)
            return
        ask()
        request = RefundRequest.objects.get(milestone_id=milestone_id, status="open")
        self.requests[request.pk] = ModelRefundRequest(
            request.pk, milestone_id, destination, request.respond_by
        )

    @precondition(lambda self: self.requests)
    @rule(which=picks, answer=st.sampled_from(["withdrawn", "declined"]))
    def answer_refund_request(self, which: int, answer: str) -> None:
        """The client withdraws an open refund request, or the freelancer declines it."""
        request = self.requests[self.pick(list(self.requests), which)]
        contract = self.contracts[self.milestones[request.milestone_id].contract_id]
        if answer == "withdrawn":
            refund_services.withdraw_refund_request(
                actor=contract.client, refund_request_id=request.pk
            )
        else:
            refund_services.decline_refund_request(
                actor=contract.freelancer, refund_request_id=request.pk
            )
        assert RefundRequest.objects.get(pk=request.pk).status == answer
        del self.requests[request.pk]

    # --- time and the periodic tasks ----------------------------------------------------

    @rule(days=st.integers(min_value=1, max_value=20))
    def days_pass(self, days: int) -> None:
        """The clock moves on and beat runs the settlement tasks."""
        self.now += timedelta(days=days)
        self.accept_lapsed_refund_requests()
        self.auto_release()
        self.make_releases_available()
        self.retry_card_refunds()

    def accept_lapsed_refund_requests(self) -> None:
        expected: list[tuple[int, str]] = []
        for request in sorted(self.requests.values(), key=lambda r: r.pk):
            if request.respond_by > self.now:
                continue
            milestone = self.milestones[request.milestone_id]
            if milestone.status != S.FUNDED or not self.contracts[milestone.contract_id].active:
                del self.requests[request.pk]  # closed as lapsed
                continue
            self.book_refund(request.milestone_id, request.destination)
            expected.append((request.milestone_id, request.destination))
        assert refund_services.accept_lapsed_refund_requests(now=self.now) == len(expected)
        for milestone_id, destination in expected:
            if destination == Refund.Destination.CARD:  # the on-commit task did not run
                self.card_refunds.append(Refund.objects.get(milestone_id=milestone_id).pk)

    def auto_release(self) -> None:
        due = [
            pk
            for pk, m in sorted(self.milestones.items())
            if m.status == S.SUBMITTED
            and m.review_deadline is not None
            and m.review_deadline <= self.now
            and self.contracts[m.contract_id].active
        ]
        assert release_services.auto_release_due(now=self.now) == len(due)
        for milestone_id in due:
            self.book_release(milestone_id, Release.objects.get(milestone_id=milestone_id), None)

    def make_releases_available(self) -> None:
        due = [r for r in self.releases if not r.matured and r.available_at <= self.now]
        assert release_services.make_releases_available(now=self.now) == len(due)
        for release in due:
            release.matured = True
            self.book.pending[release.freelancer.pk] -= release.share
            self.book.available[release.freelancer.pk] += release.share

    def retry_card_refunds(self) -> None:
        """Card refunds whose task never ran are sent; the provider pays them back."""
        assert refund_services.retry_due_refunds(now=self.now) == len(self.card_refunds)
        for refund_id in self.card_refunds:
            refund = Refund.objects.get(pk=refund_id)
            assert refund.status == Refund.Status.SUCCEEDED, refund.failure_message
        self.card_refunds = []

    # --- payouts -------------------------------------------------------------------------

    @rule(
        who=picks,
        aim=aims,
        how=st.sampled_from(["everything", "some", "too_little", "too_much"]),
        share=st.floats(min_value=0, max_value=1),
        replay=st.booleans(),
    )
    def request_payout(self, who: int, aim: bool, how: str, share: float, replay: bool) -> None:
        minimum = django_settings.PAYOUT_MINIMUM
        earners = [f for f in self.freelancers if self.book.available[f.pk] >= minimum]
        people = (earners or self.freelancers) if aim else self.people_list
        user = people[who % len(people)]
        available = self.book.available[user.pk]
        amount = {
            "everything": None,
            "some": minimum + round(max(available - minimum, 0) * share),
            "too_little": minimum - 1,
            "too_much": available + 1,
        }[how]
        key = str(uuid.uuid4())

        def pay_out() -> Payout:
            return payout_services.request_payout(
                actor=user, currency=CURRENCY, amount=amount, request_key=key
            )

        taken = available if amount is None else amount
        if user not in self.freelancers or not minimum <= taken <= available:
            self.refused(pay_out)
            return
        payout = pay_out()
        assert int(payout.amount) == taken
        self.book.available[user.pk] -= taken
        self.book.external += taken
        if replay:
            assert pay_out().pk == payout.pk
        sent = payout_services.send_payout(payout_id=payout.pk)
        assert sent.status == Payout.Status.PAID, sent.failure_message

    # --- what must hold after every step ------------------------------------------------

    @invariant()
    def ledger_is_sound(self) -> None:
        assert ledger.find_problems() == []

    @invariant()
    def money_is_conserved(self) -> None:
        inside = LedgerAccount.objects.exclude(kind=Kind.EXTERNAL).aggregate(t=Sum("balance"))["t"]
        outside = LedgerAccount.objects.filter(kind=Kind.EXTERNAL).aggregate(t=Sum("balance"))["t"]
        assert int(inside or 0) == -int(outside or 0)

    @invariant()
    def escrow_follows_the_milestone(self) -> None:
        held = dict(
            LedgerAccount.objects.filter(
                kind=Kind.ESCROW, milestone_id__in=list(self.milestones)
            ).values_list("milestone_id", "balance")
        )
        statuses = dict(
            Milestone.objects.filter(pk__in=list(self.milestones)).values_list("pk", "status")
        )
        for milestone_id, milestone in self.milestones.items():
            in_escrow = int(held.get(milestone_id, 0))
            assert statuses[milestone_id] == milestone.status, milestone_id
            assert in_escrow == (milestone.amount if milestone.status in HELD else 0)
            assert in_escrow == self.book.escrow[milestone_id]

    @invariant()
    def balances_match_the_book(self) -> None:
        rows = LedgerAccount.objects.filter(owner__in=self.people_list, currency=CURRENCY)
        actual = {(row.owner_id, row.kind): int(row.balance) for row in rows}
        for user in self.people_list:
            available = actual.get((user.pk, Kind.AVAILABLE), 0)
            pending = actual.get((user.pk, Kind.PENDING), 0)
            assert available >= 0
            assert pending >= 0
            assert available == self.book.available[user.pk], user
            assert pending == self.book.pending[user.pk], user
        assert self._global(Kind.FEES) - self.fees_start == self.book.fees
        assert self._global(Kind.EXTERNAL) - self.external_start == self.book.external

    @invariant()
    def contracts_complete_when_every_milestone_is_final(self) -> None:
        statuses = dict(
            Contract.objects.filter(pk__in=list(self.contracts)).values_list("pk", "status")
        )
        for contract_id, contract in self.contracts.items():
            expected = Contract.Status.ACTIVE if contract.active else Contract.Status.COMPLETED
            assert statuses[contract_id] == expected


@pytest.mark.django_db
def test_random_money_sequences_keep_the_ledger_and_the_model_in_step():
    run_state_machine_as_test(
        EscrowMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            database=None,  # no example files in the repository
            # The explain phase traces every line: minutes on a failure, for little.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@pytest.mark.django_db
def test_asking_for_a_revision_of_unfunded_work_is_refused():
    """Only submitted work goes back for a revision. The lifecycle allows draft ->
    funded (for escrow), so without its own check a revision would make an unpaid
    milestone read "Funded — money in escrow" with nothing in escrow."""
    contract = make_contract(make_proposal(make_job(verified_user()), verified_user()))
    milestone = contract.milestones.order_by("position").first()
    assert milestone is not None
    with pytest.raises(DomainError):
        milestone_services.request_revision(
            actor=contract.client, milestone_id=milestone.pk, reason="Not quite."
        )
    milestone.refresh_from_db()
    assert milestone.status == S.DRAFT
    assert not LedgerAccount.objects.filter(milestone=milestone).exclude(balance=0).exists()
