"""Wallet flows through the API, refused: every bad input gets its code and leaves
nothing written (no escrow record, no submission) and nothing on chain."""

from __future__ import annotations

import pytest

from escrow.models import ChainEscrow
from marketplace.models import Milestone, Submission, Wallet
from tests.chain.conftest import _free_port
from tests.chain.wallet_helpers import (
    api_for,
    error,
    fund_on_chain,
    mark,
    milestones,
)
from tests.factories import make_contract, make_job, make_proposal, verified_user

pytestmark = pytest.mark.django_db
S = Milestone.Status
ETH = 10**18


def url(milestone: Milestone, action: str) -> str:
    return f"/api/v1/milestones/{milestone.pk}/{action}/"


# --- refusals -------------------------------------------------------------------------------


def test_wrong_rail_contract_not_active_and_wrong_party(chain_rail):
    card = make_contract(make_proposal(make_job(verified_user(is_client=True))))
    card_milestone = milestones(card)[0]
    dispute = {"reason": "quality", "description": "Not started."}
    assert error(api_for(card.client).post(url(card_milestone, "dispute"), dispute)) == (
        409,
        "invalid_transition",
    )
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    assert error(api_for(contract.freelancer).post(url(first, "fund"))) == (
        403,
        "permission_denied",
    )
    contract.status = contract.Status.COMPLETED
    contract.save(update_fields=["status"])
    assert error(api_for(contract.client).post(url(first, "fund"))) == (409, "contract_not_active")
    assert not ChainEscrow.objects.exists()


def test_card_rail_money_endpoints_are_unchanged(chain_rail):
    card = make_contract(make_proposal(make_job(verified_user(is_client=True))))
    response = api_for(card.client).post(
        url(milestones(card)[0], "fund"), {"source": "card"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending"


def test_someone_elses_milestone_is_404_and_nothing_is_written(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    stranger = api_for(verified_user())
    for action in (
        "fund",
        "submit",
        "request-revision",
        "approve",
        "refund",
        "refund-request",
        "dispute",
    ):
        assert error(stranger.post(url(first, action), {}, format="json"))[0] == 404, action
    assert not ChainEscrow.objects.exists()
    assert not Submission.objects.exists()


def test_milestone_in_the_wrong_state(chain_rail):
    contract = chain_rail.contract("eth")
    first, second = milestones(contract)
    fund_on_chain(chain_rail, contract, first)
    client, freelancer = api_for(contract.client), api_for(contract.freelancer)
    assert error(client.post(url(first, "fund"))) == (409, "invalid_transition")
    assert error(client.post(url(first, "request-revision"), {"reason": "x"}, format="json")) == (
        409,
        "invalid_transition",
    )
    assert error(freelancer.post(url(second, "submit"), {"message": "x"}, format="json")) == (
        409,
        "invalid_transition",
    )
    assert error(client.post(url(second, "approve"))) == (409, "invalid_transition")


def test_actions_before_the_escrow_exists_are_refused(chain_rail):
    contract = chain_rail.contract("eth")
    first = mark(milestones(contract)[0], S.FUNDED)  # e.g. a ledger that ran ahead
    assert error(api_for(contract.client).post(url(first, "dispute"))) == (
        409,
        "escrow_not_created",
    )


def test_wallets_are_required_for_both_parties(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    Wallet.objects.filter(user=contract.freelancer).delete()
    status, code = error(api_for(contract.client).post(url(first, "fund")))
    assert (status, code) == (409, "wallet_required")
    Wallet.objects.filter(user=contract.client).delete()
    response = api_for(contract.client).post(url(first, "fund"))
    assert error(response) == (409, "wallet_required")
    assert "Sign-In with Ethereum" in response.json()["detail"]
    assert not ChainEscrow.objects.exists()


def test_from_must_be_the_partys_wallet_and_chain_id_ours(chain_rail):
    contract = chain_rail.contract("eth")
    first, second = milestones(contract)
    client = api_for(contract.client)
    stranger = chain_rail.accounts.stranger
    assert error(client.post(url(first, "fund"), {"from": stranger}, format="json")) == (
        409,
        "wallet_mismatch",
    )
    assert error(client.post(url(first, "fund"), {"from": "nope"}, format="json")) == (
        400,
        "invalid_address",
    )
    assert error(client.post(url(first, "fund"), {"chain_id": 1}, format="json")) == (
        400,
        "wrong_chain",
    )
    fund_on_chain(chain_rail, contract, first)
    # A second linked wallet of the client is not the escrow's client.
    Wallet.objects.create(user=contract.client, address=stranger)
    assert error(client.post(url(first, "approve"), {"from": stranger}, format="json")) == (
        409,
        "wallet_mismatch",
    )
    ok = client.post(
        url(first, "approve"),
        {"from": chain_rail.accounts.client.lower(), "chain_id": 31337},
        format="json",
    )
    assert ok.status_code == 200
    assert error(client.post(url(second, "fund"), {"from": stranger}, format="json")) == (
        409,
        "wallet_mismatch",
    )


def test_amounts_that_no_longer_match_the_escrow(chain_rail):
    contract = chain_rail.contract("eth")
    first, second = milestones(contract)
    fund_on_chain(chain_rail, contract, first)
    client = api_for(contract.client)
    assert error(client.post(url(first, "approve"), {"amount": ETH + 1}, format="json")) == (
        400,
        "invalid_release_amount",
    )
    Milestone.objects.filter(pk=second.pk).update(amount=3 * ETH)  # behind the services' back
    assert error(client.post(url(second, "fund"))) == (409, "amounts_mismatch")
    extra = Milestone.objects.create(contract=contract, position=3, title="Extra", amount=ETH)
    assert error(client.post(url(extra, "fund"))) == (409, "milestone_not_in_escrow")


def test_the_plan_is_fixed_once_the_escrow_is_prepared(chain_rail):
    contract = chain_rail.contract("eth")
    first, second = milestones(contract)
    client = api_for(contract.client)
    assert (
        client.patch(
            f"/api/v1/milestones/{second.pk}/", {"amount": 3 * ETH}, format="json"
        ).status_code
        == 200
    )
    client.post(url(first, "fund"))
    added = client.post(
        f"/api/v1/contracts/{contract.pk}/milestones/",
        {"title": "More", "amount": ETH},
        format="json",
    )
    assert error(added) == (409, "chain_terms_fixed")
    assert error(
        client.patch(f"/api/v1/milestones/{second.pk}/", {"amount": ETH}, format="json")
    ) == (409, "chain_terms_fixed")
    assert error(client.delete(f"/api/v1/milestones/{second.pk}/")) == (409, "chain_terms_fixed")
    assert ChainEscrow.objects.get(contract=contract).milestone_ids == [first.pk, second.pk]


def test_node_down_is_503_and_writes_nothing(chain_rail, settings):
    contract = chain_rail.contract("eth")
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{_free_port()}"
    response = api_for(contract.client).post(url(milestones(contract)[0], "fund"))
    assert error(response) == (503, "chain_unavailable")
    assert not ChainEscrow.objects.exists()


def test_node_on_another_chain_is_503(chain_rail, settings):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    settings.CHAIN_ID = 5
    # The escrow is on 31337: SmartPay's chain id moved, so it is another chain now.
    assert error(api_for(contract.client).post(url(first, "dispute"))) == (409, "wrong_chain")
    ChainEscrow.objects.filter(contract=contract).update(chain_id=5)
    from escrow.models import ChainDeployment

    ChainDeployment.objects.filter(chain_id=31337).update(chain_id=5)
    assert error(api_for(contract.client).post(url(first, "dispute"))) == (503, "chain_unavailable")


def test_idempotency_key_replays_the_same_transactions(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    client = api_for(contract.client)
    one = client.post(url(first, "fund"), {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    two = client.post(url(first, "fund"), {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert two.json() == one.json()
    assert two["Idempotent-Replayed"] == "true"


def test_escrow_accepted_by_sync_names_the_addresses_used_afterwards(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    escrow = ChainEscrow.objects.get(contract=contract)
    assert escrow.status == ChainEscrow.Status.CREATED
    tx = api_for(contract.freelancer).post(url(first, "refund")).json()["transactions"][0]
    assert tx["from"] == escrow.freelancer_address
