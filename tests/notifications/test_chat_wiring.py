"""Conversations appear with the right members when a proposal is submitted, an offer
is made, a dispute is opened and an arbiter is assigned."""

from __future__ import annotations

import pytest

from disputes.services import escalate_dispute
from marketplace.services import contracts as contract_services
from marketplace.services import proposals as proposal_services
from marketplace.services.proposals import PlannedMilestone
from notifications.models import Conversation
from tests.disputes.helpers import funded_milestone, make_arbiter, opened_dispute
from tests.factories import make_job, make_proposal, verified_freelancer, verified_user

pytestmark = pytest.mark.django_db


def members(conversation: Conversation) -> set[int]:
    return set(conversation.memberships.values_list("user_id", flat=True))


def test_submitting_a_proposal_opens_its_conversation_for_client_and_freelancer():
    job = make_job(verified_user())
    freelancer = verified_freelancer()
    proposal = proposal_services.submit_proposal(
        actor=freelancer,
        job_id=job.pk,
        cover_letter="Hello",
        currency="usd",
        milestones=[PlannedMilestone("All", 5)],
    )
    conversation = Conversation.objects.get(
        subject_type="marketplace.proposal", subject_id=str(proposal.pk)
    )
    assert conversation.kind == "proposal"
    assert members(conversation) == {job.client_id, freelancer.pk}
    assert conversation.url == f"/proposals/{proposal.pk}/"


def test_an_offer_opens_the_contracts_conversation():
    client = verified_user()
    proposal = make_proposal(make_job(client))
    contract = contract_services.offer_contract(actor=client, proposal_id=proposal.pk)
    conversation = Conversation.objects.get(
        subject_type="marketplace.contract", subject_id=str(contract.pk)
    )
    assert conversation.kind == "contract"
    assert members(conversation) == {client.pk, proposal.freelancer_id}


def test_opening_a_dispute_opens_a_conversation_for_the_parties_and_the_arbiter_joins():
    contract, milestone = funded_milestone()
    dispute = opened_dispute(contract, milestone, escalate=False)
    conversation = Conversation.objects.get(
        subject_type="disputes.dispute", subject_id=str(dispute.pk)
    )
    assert conversation.kind == "dispute"
    assert members(conversation) == {contract.client_id, contract.freelancer_id}

    arbiter = make_arbiter()
    escalate_dispute(actor=contract.client, dispute_id=dispute.pk)
    dispute.refresh_from_db()
    assert dispute.arbiter_id == arbiter.pk
    assert members(conversation) == {contract.client_id, contract.freelancer_id, arbiter.pk}
    assert Conversation.objects.count() == 1
