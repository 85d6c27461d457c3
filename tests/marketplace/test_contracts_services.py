"""Offers and contracts: the services' rules and edge cases."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from marketplace.models import Contract, ContractActivity, Job, Milestone, Profile, Proposal
from marketplace.services import contracts as services
from smartpay.errors import Conflict, DomainError, NotAllowed, NotFoundError
from tests.factories import (
    make_contract,
    make_job,
    make_proposal,
    make_user,
    verified_user,
)

pytestmark = pytest.mark.django_db


def freelancer():
    return verified_user(is_client=False, is_freelancer=True)


def setup_proposal(amounts=(100_000, 150_000), currency="usd"):
    client = verified_user()
    job = make_job(client, currency=currency)
    proposal = make_proposal(job, freelancer(), amounts=amounts)
    return client, job, proposal


def test_offer_snapshots_the_proposal_terms(
    settings, django_capture_on_commit_callbacks, live_pushes
):
    settings.PLATFORM_FEE_BPS = 750
    client, _job, proposal = setup_proposal()
    inbox = live_pushes(proposal.freelancer_id)
    with django_capture_on_commit_callbacks(execute=True):
        contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    assert contract.status == Contract.Status.OFFERED
    assert (contract.currency, contract.rail, contract.fee_bps) == ("usd", "card", 750)
    assert [(m.position, m.title, int(m.amount), m.status) for m in contract.milestones.all()] == [
        (1, "Milestone 1", 100_000, "draft"),
        (2, "Milestone 2", 150_000, "draft"),
    ]
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.ACCEPTED
    assert ContractActivity.objects.filter(contract=contract, verb="offer_sent").count() == 1
    assert [p["notification"]["verb"] for p in inbox.payloads()] == ["offer_sent"]
    # The snapshot is independent of later changes to the plan.
    proposal.milestones.update(amount=1)
    assert int(contract.milestones.get(position=1).amount) == 100_000


def test_chain_currency_gets_the_chain_rail():
    client, _, proposal = setup_proposal(amounts=(10**18,), currency="eth")
    contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    assert contract.rail == "chain"


def test_a_rail_that_does_not_carry_the_currency_is_refused_and_nothing_written():
    client, _job, proposal = setup_proposal()
    with pytest.raises(DomainError) as refused:
        services.offer_contract(actor=client, proposal_id=proposal.pk, rail="chain")
    assert refused.value.code == "rail_currency_mismatch"
    assert refused.value.status_code == 400
    assert not Contract.objects.exists()
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SUBMITTED


def test_only_the_job_owner_may_offer():
    _, _, proposal = setup_proposal()
    stranger = verified_user()
    with pytest.raises(NotFoundError):
        services.offer_contract(actor=stranger, proposal_id=proposal.pk)
    with pytest.raises(NotFoundError):
        services.offer_contract(actor=proposal.freelancer, proposal_id=proposal.pk)
    assert not Contract.objects.exists()


def test_unverified_client_may_not_offer():
    client = make_user()
    proposal = make_proposal(make_job(client), freelancer())
    with pytest.raises(NotAllowed) as refused:
        services.offer_contract(actor=client, proposal_id=proposal.pk)
    assert refused.value.code == "email_unverified"
    assert not Contract.objects.exists()


@pytest.mark.parametrize("status", [Proposal.Status.DECLINED, Proposal.Status.WITHDRAWN])
def test_offer_on_a_decided_proposal_is_409(status):
    client, _, proposal = setup_proposal()
    Proposal.objects.filter(pk=proposal.pk).update(status=status)
    with pytest.raises(Conflict) as refused:
        services.offer_contract(actor=client, proposal_id=proposal.pk)
    assert refused.value.code == "proposal_decided"
    assert not Contract.objects.exists()


def test_offer_on_a_job_that_is_not_open_is_409():
    client, job, proposal = setup_proposal()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.CLOSED)
    with pytest.raises(Conflict) as refused:
        services.offer_contract(actor=client, proposal_id=proposal.pk)
    assert refused.value.code == "job_not_open"


def test_replaying_an_offer_is_409_and_duplicates_nothing():
    client, _, proposal = setup_proposal()
    services.offer_contract(actor=client, proposal_id=proposal.pk)
    with pytest.raises(Conflict) as refused:
        services.offer_contract(actor=client, proposal_id=proposal.pk)
    assert refused.value.code == "proposal_decided"
    assert Contract.objects.count() == 1
    assert Milestone.objects.count() == 2
    assert ContractActivity.objects.count() == 1


def test_second_offer_on_the_same_job_waits_for_the_first():
    client, job, proposal = setup_proposal()
    second = make_proposal(job, freelancer())
    services.offer_contract(actor=client, proposal_id=proposal.pk)
    with pytest.raises(Conflict) as refused:
        services.offer_contract(actor=client, proposal_id=second.pk)
    assert refused.value.code == "offer_outstanding"
    second.refresh_from_db()
    assert second.status == Proposal.Status.SUBMITTED


def test_accept_activates_awards_and_declines_the_other_proposals(
    django_capture_on_commit_callbacks, live_pushes
):
    client, job, proposal = setup_proposal()
    other = make_proposal(job, freelancer())
    withdrawn = make_proposal(job, freelancer())
    Proposal.objects.filter(pk=withdrawn.pk).update(status=Proposal.Status.WITHDRAWN)
    contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    inboxes = {
        user_id: live_pushes(user_id)
        for user_id in (client.pk, other.freelancer_id, withdrawn.freelancer_id)
    }
    with django_capture_on_commit_callbacks(execute=True):
        services.accept_offer(actor=proposal.freelancer, contract_id=contract.pk)
    contract.refresh_from_db()
    job.refresh_from_db()
    other.refresh_from_db()
    withdrawn.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE
    assert contract.accepted_at
    assert job.status == Job.Status.AWARDED
    assert other.status == Proposal.Status.DECLINED
    assert withdrawn.status == Proposal.Status.WITHDRAWN
    notified = {user_id for user_id, inbox in inboxes.items() if inbox.payloads()}
    assert notified == {client.pk, other.freelancer_id}


def test_client_cannot_accept_their_own_offer_and_nothing_changes():
    client, job, proposal = setup_proposal()
    contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    with pytest.raises(NotAllowed):
        services.accept_offer(actor=client, contract_id=contract.pk)
    with pytest.raises(NotFoundError):
        services.accept_offer(actor=verified_user(), contract_id=contract.pk)
    contract.refresh_from_db()
    job.refresh_from_db()
    assert contract.status == Contract.Status.OFFERED
    assert job.status == Job.Status.OPEN


def test_accepting_twice_is_409():
    client, _, proposal = setup_proposal()
    contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    services.accept_offer(actor=proposal.freelancer, contract_id=contract.pk)
    with pytest.raises(Conflict) as refused:
        services.accept_offer(actor=proposal.freelancer, contract_id=contract.pk)
    assert refused.value.code == "offer_not_pending"


def test_decline_keeps_the_job_open_for_another_offer():
    client, job, proposal = setup_proposal()
    second = make_proposal(job, freelancer())
    contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    services.decline_offer(actor=proposal.freelancer, contract_id=contract.pk)
    contract.refresh_from_db()
    proposal.refresh_from_db()
    job.refresh_from_db()
    assert contract.status == Contract.Status.DECLINED
    assert proposal.status == Proposal.Status.DECLINED
    assert job.status == Job.Status.OPEN
    assert services.offer_contract(actor=client, proposal_id=second.pk).status == "offered"
    with pytest.raises(Conflict):
        services.offer_contract(actor=client, proposal_id=proposal.pk)


def test_withdraw_is_for_the_client_while_the_offer_waits():
    client, _job, proposal = setup_proposal()
    contract = services.offer_contract(actor=client, proposal_id=proposal.pk)
    with pytest.raises(NotAllowed):
        services.withdraw_offer(actor=proposal.freelancer, contract_id=contract.pk)
    services.withdraw_offer(actor=client, contract_id=contract.pk)
    contract.refresh_from_db()
    assert contract.status == Contract.Status.WITHDRAWN
    with pytest.raises(Conflict):
        services.withdraw_offer(actor=client, contract_id=contract.pk)
    with pytest.raises(Conflict):
        services.accept_offer(actor=proposal.freelancer, contract_id=contract.pk)


# --- completion ----------------------------------------------------------------------


def completed_count(contract: Contract) -> int:
    profile = Profile.objects.filter(user_id=contract.freelancer_id).first()
    return profile.completed_contracts if profile else 0


def test_contract_completes_when_every_milestone_is_final_and_counts_once():
    contract = make_contract()
    first, second = contract.milestones.all()
    Milestone.objects.filter(pk=first.pk).update(status=Milestone.Status.RELEASED)
    assert services.complete_contract_if_done(contract) is False
    assert completed_count(contract) == 0
    Milestone.objects.filter(pk=second.pk).update(status=Milestone.Status.REFUNDED)
    assert services.complete_contract_if_done(contract) is True
    contract.refresh_from_db()
    assert contract.status == Contract.Status.COMPLETED
    assert contract.completed_at
    assert completed_count(contract) == 1
    assert services.complete_contract_if_done(contract) is False
    assert completed_count(contract) == 1


# --- concurrency ----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_offers_on_one_job_leave_one_outstanding():
    client = verified_user()
    job = make_job(client)
    proposals = [make_proposal(job, freelancer()) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def offer(proposal_id: int) -> None:
        try:
            barrier.wait()
            services.offer_contract(actor=client, proposal_id=proposal_id)
            outcomes.append("offered")
        except Conflict as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=offer, args=(p.pk,)) for p in proposals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["offer_outstanding", "offered"]
    assert Contract.objects.filter(job=job, status=Contract.Status.OFFERED).count() == 1
    assert Proposal.objects.filter(job=job, status=Proposal.Status.ACCEPTED).count() == 1
