"""1,000 deliveries of 100 distinct Stripe events, shuffled and duplicated as Stripe
may deliver them, through the real endpoint: 100 stored events, each effect once."""

from __future__ import annotations

import queue
import random
import threading
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client

from escrow import ledger
from escrow.models import EscrowHold, Funding, Payout, PayoutAccount, Refund, Transfer, WebhookEvent
from escrow.rails import events
from escrow.services import funding as funding_services
from escrow.services import refunds as refund_services
from escrow.services.payouts import request_payout, send_payout
from marketplace.models import Milestone
from tests.escrow.fake_stripe import FakeStripe
from tests.escrow.money import card_contract, first_milestone, intent_of, top_up
from tests.escrow.webhook_helpers import (
    account_of,
    connected_freelancer,
    post_event,
    threads_running_eager_tasks,
)

COPIES = 10  # each event is delivered this many times
Status = WebhookEvent.Status


@dataclass
class Storm:
    events: list[dict] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)  # to be enabled by account.updated
    payouts: list[int] = field(default_factory=list)  # to be reversed in full
    paid: list[Funding] = field(default_factory=list)  # payment_intent.succeeded
    declined: list[Funding] = field(default_factory=list)  # payment_intent.payment_failed
    refunds: list[int] = field(default_factory=list)  # charge.refunded
    disputed: list[Milestone] = field(default_factory=list)  # charge.dispute.created


def started_funding(key: str) -> tuple[Funding, Milestone]:
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key=key
    )
    return funding, milestone


def funded(fake: FakeStripe, key: str) -> tuple[Funding, Milestone]:
    """A milestone funded before the storm (its success event was processed earlier)."""
    funding, milestone = started_funding(key)
    intent = fake.succeed_payment(intent_of(funding))
    funding_services.confirm_funding(
        payment_intent_id=intent["id"], amount_received=intent["amount"], currency="usd"
    )
    return funding, milestone


def build_storm(fake: FakeStripe) -> Storm:
    storm = Storm()
    for _ in range(20):
        user = connected_freelancer(fake, enabled=False)
        account_id = account_of(user).account_id
        fake.complete_onboarding(account_id)
        storm.accounts.append(account_id)
        storm.events.append(events.build_event("account.updated", dict(fake.objects[account_id])))

    for _ in range(5):
        user = connected_freelancer(fake)
        top_up(user, 8_000)
        for number in range(4):
            payout = request_payout(
                actor=user, currency="usd", amount=2_000, request_key=f"storm-{number}"
            )
            payout = send_payout(payout_id=payout.pk)
            assert payout.provider_transfer_id
            storm.payouts.append(payout.pk)
            storm.events.append(
                events.transfer_reversed_event(
                    transfer_id=payout.provider_transfer_id,
                    amount=2_000,
                    currency="usd",
                    destination=account_of(user).account_id,
                    amount_reversed=2_000,
                    metadata={"payout_id": str(payout.pk)},
                )
            )

    for number in range(20):
        funding, _ = started_funding(f"paid-{number}")
        intent = fake.succeed_payment(intent_of(funding))
        storm.paid.append(funding)
        storm.events.append(events.build_event("payment_intent.succeeded", intent))

    for number in range(10):
        funding, _ = started_funding(f"declined-{number}")
        intent = {
            **fake.objects[intent_of(funding)],
            "last_payment_error": events.card_error("Your card was declined."),
        }
        storm.declined.append(funding)
        storm.events.append(events.build_event("payment_intent.payment_failed", intent))

    fake.refund_status = "pending"  # the refunds are confirmed by the storm's events
    for number in range(10):
        funding, milestone = funded(fake, f"refunded-{number}")
        refund = refund_services.refund_milestone(
            actor=milestone.contract.freelancer, milestone_id=milestone.pk, destination="card"
        )
        refund = refund_services.send_card_refund(refund_id=refund.pk)
        assert refund.provider_refund_id
        storm.refunds.append(refund.pk)
        charge_id = fake.objects[intent_of(funding)]["latest_charge"]
        refunded = {**fake.objects[refund.provider_refund_id], "status": "succeeded"}
        storm.events.append(
            events.build_event(
                "charge.refunded",
                events.charge_object(
                    charge_id=charge_id,
                    amount=int(funding.amount),
                    currency="usd",
                    payment_intent_id=intent_of(funding),
                    refunds=[refunded],
                ),
            )
        )

    for number in range(10):
        funding, milestone = funded(fake, f"disputed-{number}")
        storm.disputed.append(milestone)
        storm.events.append(
            events.dispute_created_event(
                dispute_id=f"dp_storm_{number}",
                charge_id=fake.objects[intent_of(funding)]["latest_charge"],
                payment_intent_id=intent_of(funding),
                amount=int(funding.amount),
                currency="usd",
            )
        )

    for number in range(10):
        storm.events.append(
            events.build_event(
                "invoice.paid" if number % 2 else "payout.created",
                {"id": f"obj_{number}", "object": "unknown"},
            )
        )
    assert len({event["id"] for event in storm.events}) == 100
    return storm


def deliver(storm: Storm, workers: int) -> list[int]:
    """Every event COPIES times, shuffled, posted by ``workers`` threads; the answers."""
    deliveries = [event for event in storm.events for _ in range(COPIES)]
    random.Random(5).shuffle(deliveries)
    work: queue.Queue[dict] = queue.Queue()
    for event in deliveries:
        work.put(event)
    answers: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = Client()
        try:
            while True:
                try:
                    event = work.get_nowait()
                except queue.Empty:
                    return
                status = post_event(client, event).status_code
                with lock:
                    answers.append(status)
        finally:
            connection.close()

    if workers == 1:
        client = Client()
        return [post_event(client, event).status_code for event in deliveries]
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    with threads_running_eager_tasks():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    return answers


def assert_each_effect_once(storm: Storm) -> None:
    stored = WebhookEvent.objects.all()
    assert stored.count() == 100
    assert stored.aggregate(total=Sum("deliveries"))["total"] == 100 * COPIES
    outcomes = {(e.status, e.attempts, e.error) for e in stored}
    assert outcomes == {(Status.SUCCEEDED, 1, ""), (Status.IGNORED, 1, "")}
    assert stored.filter(status=Status.IGNORED).count() == 10

    enabled = PayoutAccount.objects.filter(account_id__in=storm.accounts, payouts_enabled=True)
    assert enabled.count() == 20

    reversals = Transfer.objects.filter(idempotency_key__startswith="reversal:")
    assert sorted(reversals.values_list("idempotency_key", flat=True)) == sorted(
        f"reversal:{pk}:2000" for pk in storm.payouts
    )
    assert set(Payout.objects.filter(pk__in=storm.payouts).values_list("status", flat=True)) == {
        Payout.Status.REVERSED
    }

    for funding in storm.paid:
        funding.refresh_from_db()
        assert funding.status == Funding.Status.SUCCEEDED
        assert Transfer.objects.filter(idempotency_key=f"charge:{intent_of(funding)}").count() == 1
        assert funding.items.get().milestone.status == Milestone.Status.FUNDED
    paid_keys = [f"charge:{f.payment_intent_id}" for f in storm.paid]
    assert Transfer.objects.filter(idempotency_key__in=paid_keys).count() == 20
    assert Transfer.objects.filter(idempotency_key__startswith="charge:").count() == 40

    declined = Funding.objects.filter(pk__in=[f.pk for f in storm.declined])
    assert set(declined.values_list("status", flat=True)) == {Funding.Status.FAILED}

    refunds = Refund.objects.filter(pk__in=storm.refunds)
    assert set(refunds.values_list("status", flat=True)) == {Refund.Status.SUCCEEDED}

    holds = EscrowHold.objects.filter(milestone__in=storm.disputed)
    assert holds.count() == EscrowHold.objects.count() == 10

    assert ledger.find_problems() == []


@pytest.mark.django_db
def test_storm_of_duplicated_shuffled_deliveries_has_each_effect_once(fake_stripe, eager_tasks):
    storm = build_storm(fake_stripe)

    answers = deliver(storm, workers=1)

    assert answers == [200] * 100 * COPIES
    assert_each_effect_once(storm)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_storm_from_sixteen_concurrent_senders_has_each_effect_once(fake_stripe, eager_tasks):
    storm = build_storm(fake_stripe)

    answers = deliver(storm, workers=16)

    assert answers == [200] * 100 * COPIES
    assert_each_effect_once(storm)
