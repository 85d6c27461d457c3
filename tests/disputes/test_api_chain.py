"""Opening a dispute on the chain rail through the API: the wallet's transaction, and
the case recorded when a reason is given."""

from __future__ import annotations

import pytest

from disputes.models import Dispute
from marketplace.models import Milestone
from tests.chain.wallet_helpers import (
    api_for,
    chain_status,
    fund_on_chain,
    milestones,
    send_all,
)

pytestmark = pytest.mark.django_db


def url(milestone: Milestone) -> str:
    return f"/api/v1/milestones/{milestone.pk}/dispute/"


def test_a_chain_dispute_with_a_reason_records_the_case_and_returns_the_transaction(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    body = {"reason": "unresponsive", "description": "No answer for weeks."}
    response = api_for(contract.freelancer).post(url(first), body, format="json")
    assert response.status_code == 200, response.json()
    dispute = Dispute.objects.get(milestone=first)
    assert dispute.status == Dispute.Status.OPEN
    assert dispute.opened_by == contract.freelancer
    first.refresh_from_db()
    assert first.status == Milestone.Status.FUNDED  # the wallet's transaction disputes it
    send_all(chain_rail, response.json(), chain_rail.accounts.freelancer)
    assert chain_status(chain_rail, contract, 0) == "Disputed"
    listed = api_for(contract.client).get("/api/v1/disputes/").json()["results"]
    assert [row["id"] for row in listed] == [dispute.pk]
    again = api_for(contract.client).post(url(first), body, format="json")
    assert again.status_code == 409


def test_a_chain_dispute_without_a_reason_only_builds_the_transaction(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    response = api_for(contract.client).post(url(first), {}, format="json")
    assert response.status_code == 200, response.json()
    assert not Dispute.objects.exists()
