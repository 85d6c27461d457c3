"""Wallet flows through the API: on the chain rail the money endpoints answer with
unsigned transactions; sent from the party's wallet (an unlocked anvil account) they
move the escrow contract exactly as the action says. SmartPay's own state does not
change until chain sync applies the events."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from escrow.chain.node import ETH_ADDRESS
from escrow.models import ChainEscrow, Funding, Transfer
from escrow.services.chain_actions import submission_digest
from marketplace.models import Milestone, RevisionRequest, Submission
from tests.chain.conftest import DAY, FEE_BPS
from tests.chain.wallet_helpers import (
    api_for,
    chain_status,
    error,
    fund_on_chain,
    milestones,
    onchain_id,
    send_all,
    submit_on_chain,
    token_of,
)
from tests.factories import verified_user

pytestmark = pytest.mark.django_db
S = Milestone.Status
ETH = 10**18


def url(milestone: Milestone, action: str) -> str:
    return f"/api/v1/milestones/{milestone.pk}/{action}/"


# --- funding ------------------------------------------------------------------------------


def test_first_funding_creates_the_escrow_with_the_contracts_terms_then_funds(chain_rail):
    contract = chain_rail.contract("eth", amounts=(ETH, 2 * ETH))
    first, second = milestones(contract)
    response = api_for(contract.client).post(url(first, "fund"), {}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["rail"] == "chain"
    assert body["confirmations"] == 0
    create, fund = body["transactions"]
    assert [tx["chainId"] for tx in body["transactions"]] == [31337, 31337]
    assert create["to"] == fund["to"] == chain_rail.escrow.address
    assert (create["value"], fund["value"]) == ("0", str(ETH))
    assert "Create the escrow" in create["description"]
    escrow = ChainEscrow.objects.get(contract=contract)
    assert escrow.status == ChainEscrow.Status.AWAITING
    assert int(escrow.onchain_id) == contract.pk
    assert escrow.chain_id == 31337
    assert escrow.milestone_ids == [first.pk, second.pk]
    assert escrow.token == ETH_ADDRESS

    send_all(chain_rail, body, chain_rail.accounts.client)

    a = chain_rail.accounts
    terms = chain_rail.escrow.functions.getEscrow(contract.pk).call()
    assert list(terms) == [
        a.client,
        14 * DAY,
        a.freelancer,
        FEE_BPS,
        a.arbiter,
        ETH_ADDRESS,
        a.treasury,
    ]
    assert chain_status(chain_rail, contract, 0) == "Funded"
    assert chain_status(chain_rail, contract, 1) == "Unfunded"
    assert chain_rail.chain.held() == ETH
    first.refresh_from_db()
    assert first.status == S.DRAFT  # until chain sync applies the Funded event
    assert not Transfer.objects.exists()
    assert not Funding.objects.exists()


def test_erc20_funding_approves_the_total_before_funding(chain_rail):
    contract = chain_rail.contract("usdc", amounts=(5_000_000, 7_000_000))
    chain_rail.mint(chain_rail.accounts.client, 12_000_000)
    body = (
        api_for(contract.client)
        .post(
            "/api/v1/fundings/", {"milestones": [m.pk for m in milestones(contract)]}, format="json"
        )
        .json()
    )
    _create, approve, fund_1, fund_2 = body["transactions"]
    assert approve["to"] == chain_rail.token.address
    assert "USDC 12.000000" in approve["description"]
    assert {fund_1["value"], fund_2["value"]} == {"0"}
    send_all(chain_rail, body, chain_rail.accounts.client)
    assert chain_rail.chain.held(chain_rail.token.address) == 12_000_000
    assert [chain_status(chain_rail, contract, i) for i in (0, 1)] == ["Funded", "Funded"]


def test_later_funding_of_a_created_escrow_only_funds(chain_rail):
    contract = chain_rail.contract("usdc", amounts=(5_000_000, 7_000_000))
    first, second = milestones(contract)
    fund_on_chain(chain_rail, contract, first)
    body = api_for(contract.client).post(url(second, "fund")).json()
    approve, fund = body["transactions"]
    assert approve["to"] == chain_rail.token.address
    assert fund["to"] == chain_rail.escrow.address
    send_all(chain_rail, body, chain_rail.accounts.client)
    assert chain_status(chain_rail, contract, 1) == "Funded"


def test_funding_again_before_sync_skips_the_escrow_already_on_chain(chain_rail):
    contract = chain_rail.contract("eth")
    first, second = milestones(contract)
    client = api_for(contract.client)
    send_all(chain_rail, client.post(url(first, "fund")).json(), chain_rail.accounts.client)
    # Chain sync has not seen EscrowCreated yet: the escrow is on chain, not in SmartPay.
    assert ChainEscrow.objects.get(contract=contract).status == ChainEscrow.Status.AWAITING
    body = client.post(url(second, "fund")).json()
    assert len(body["transactions"]) == 1
    assert body["transactions"][0]["value"] == str(2 * ETH)
    send_all(chain_rail, body, chain_rail.accounts.client)
    assert chain_status(chain_rail, contract, 1) == "Funded"


def test_an_escrow_id_taken_with_other_terms_moves_the_contract_to_a_fresh_id(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    # Someone creates escrow `contract.pk` first, naming themselves the freelancer.
    chain_rail.chain.send(
        chain_rail.escrow.functions.createEscrow(
            contract.pk,
            chain_rail.accounts.stranger,
            chain_rail.accounts.arbiter,
            ETH_ADDRESS,
            chain_rail.accounts.treasury,
            [ETH, 2 * ETH],
            14 * DAY,
            FEE_BPS,
        ),
        chain_rail.accounts.owner,
    )
    body = api_for(contract.client).post(url(first, "fund")).json()
    escrow = ChainEscrow.objects.get(contract=contract)
    assert int(escrow.onchain_id) != contract.pk
    assert escrow.rejected_ids == [str(contract.pk)]
    send_all(chain_rail, body, chain_rail.accounts.client)
    terms = chain_rail.escrow.functions.getEscrow(int(escrow.onchain_id)).call()
    assert terms[0] == chain_rail.accounts.client
    assert terms[2] == chain_rail.accounts.freelancer
    assert chain_status(chain_rail, contract, 0) == "Funded"


def test_funding_a_milestone_already_funded_on_chain_waits_for_sync(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    client = api_for(contract.client)
    send_all(chain_rail, client.post(url(first, "fund")).json(), chain_rail.accounts.client)
    assert error(client.post(url(first, "fund"))) == (409, "chain_state_pending")


# --- submitting, revisions ----------------------------------------------------------------


def test_submit_stores_the_delivery_and_anchors_its_manifest_digest(chain_rail, tmp_media):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    files = [SimpleUploadedFile("a.txt", b"alpha"), SimpleUploadedFile("b.txt", b"beta")]
    response = api_for(contract.freelancer).post(
        url(first, "submit"), {"message": "First draft.", "files": files}, format="multipart"
    )
    assert response.status_code == 200, response.json()
    submission = Submission.objects.get(milestone=first)
    sha = [hashlib.sha256(b"alpha").hexdigest(), hashlib.sha256(b"beta").hexdigest()]
    assert list(submission.files.order_by("pk").values_list("sha256", flat=True)) == sha
    assert submission.digest == submission_digest(first.pk, 1, "First draft.", sha)
    assert submission.anchored_block is None
    send_all(chain_rail, response.json(), chain_rail.accounts.freelancer)
    state = chain_rail.chain.milestone(onchain_id(contract), 0)
    assert state["status"] == "Submitted"
    assert state["deliverable"].hex() == submission.digest
    first.refresh_from_db()
    assert first.status == S.FUNDED  # until sync sees Submitted


def test_the_digest_covers_message_files_and_submission_number():
    base = submission_digest(1, 1, "m", ["aa"])
    assert len(base) == 64
    assert (
        len(
            {
                base,
                submission_digest(1, 2, "m", ["aa"]),
                submission_digest(1, 1, "n", ["aa"]),
                submission_digest(1, 1, "m", ["ab"]),
                submission_digest(2, 1, "m", ["aa"]),
                submission_digest(1, 1, "m", ["aa", "aa"]),
            }
        )
        == 6
    )


def test_revision_request_sends_the_work_back_and_keeps_the_reason(chain_rail):
    contract = chain_rail.contract("eth")
    first = submit_on_chain(
        chain_rail, fund_on_chain(chain_rail, contract, milestones(contract)[0])
    )
    response = api_for(contract.client).post(
        url(first, "request-revision"), {"reason": "Add totals."}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert RevisionRequest.objects.get(milestone=first).reason == "Add totals."
    send_all(chain_rail, response.json(), chain_rail.accounts.client)
    assert chain_status(chain_rail, contract, 0) == "Funded"


# --- release, refunds, disputes ----------------------------------------------------------


def test_release_in_full_credits_freelancer_and_treasury(chain_rail):
    contract = chain_rail.contract("eth")
    first = submit_on_chain(
        chain_rail, fund_on_chain(chain_rail, contract, milestones(contract)[0])
    )
    body = api_for(contract.client).post(url(first, "approve"), {}, format="json").json()
    send_all(chain_rail, body, chain_rail.accounts.client)
    a = chain_rail.accounts
    assert chain_status(chain_rail, contract, 0) == "Released"
    assert chain_rail.chain.credit(a.freelancer) == ETH * 9 // 10
    assert chain_rail.chain.credit(a.treasury) == ETH // 10


def test_partial_release_of_a_funded_milestone_credits_the_rest_to_the_client(chain_rail):
    contract = chain_rail.contract("usdc", amounts=(10_000_000, 1_000_000))
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    body = (
        api_for(contract.client)
        .post(url(first, "approve"), {"amount": 4_000_000}, format="json")
        .json()
    )
    assert "USDC 6.000000 is credited back to you" in body["transactions"][0]["description"]
    send_all(chain_rail, body, chain_rail.accounts.client)
    token, a = chain_rail.token.address, chain_rail.accounts
    assert chain_rail.chain.credit(a.freelancer, token) == 3_600_000
    assert chain_rail.chain.credit(a.treasury, token) == 400_000
    assert chain_rail.chain.credit(a.client, token) == 6_000_000


def test_freelancer_refund_credits_the_client(chain_rail):
    contract = chain_rail.contract("eth")
    first = submit_on_chain(
        chain_rail, fund_on_chain(chain_rail, contract, milestones(contract)[0])
    )
    body = api_for(contract.freelancer).post(url(first, "refund"), {}, format="json").json()
    send_all(chain_rail, body, chain_rail.accounts.freelancer)
    assert chain_status(chain_rail, contract, 0) == "Refunded"
    assert chain_rail.chain.credit(chain_rail.accounts.client) == ETH


def test_client_refund_request_asks_on_chain(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    body = api_for(contract.client).post(url(first, "refund-request"), {}, format="json").json()
    send_all(chain_rail, body, chain_rail.accounts.client)
    assert chain_rail.chain.milestone(onchain_id(contract), 0)["refund_requested"] is True


@pytest.mark.parametrize("party", ["client", "freelancer"])
def test_either_party_disputes(chain_rail, party):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    response = api_for(getattr(contract, party)).post(url(first, "dispute"), {}, format="json")
    assert response.status_code == 200, response.json()
    send_all(chain_rail, response.json(), getattr(chain_rail.accounts, party))
    assert chain_status(chain_rail, contract, 0) == "Disputed"


# --- withdrawing ---------------------------------------------------------------------------


def _released(chain_rail, currency="eth"):
    contract = chain_rail.contract(currency, amounts=(10_000_000, 1_000_000))
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    send_all(
        chain_rail,
        api_for(contract.client).post(url(first, "approve")).json(),
        chain_rail.accounts.client,
    )
    return contract


@pytest.mark.parametrize("currency", ["eth", "usdc"])
def test_freelancer_withdraws_the_credit_to_their_wallet(chain_rail, currency):
    contract = _released(chain_rail, currency)
    token, freelancer = token_of(chain_rail, contract), chain_rail.accounts.freelancer
    before = chain_rail.chain.balance(freelancer, token)
    body = (
        api_for(contract.freelancer)
        .post("/api/v1/wallets/withdraw/", {"currency": currency}, format="json")
        .json()
    )
    (tx,) = body["transactions"]
    assert tx["from"] == freelancer
    assert tx["value"] == "0"
    receipt = send_all(chain_rail, body, freelancer)[0]
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"] if currency == "eth" else 0
    assert chain_rail.chain.balance(freelancer, token) == before + 9_000_000 - gas
    assert chain_rail.chain.credit(freelancer, token) == 0


def test_withdraw_to_another_address(chain_rail):
    contract = _released(chain_rail)
    elsewhere = chain_rail.chain.fresh_address()
    body = (
        api_for(contract.freelancer)
        .post(
            "/api/v1/wallets/withdraw/", {"currency": "eth", "to": elsewhere.lower()}, format="json"
        )
        .json()
    )
    send_all(chain_rail, body, chain_rail.accounts.freelancer)
    assert chain_rail.chain.balance(elsewhere) == 9_000_000


def test_withdraw_refusals(chain_rail):
    contract = _released(chain_rail)
    freelancer = api_for(contract.freelancer)
    withdraw = "/api/v1/wallets/withdraw/"
    assert error(freelancer.post(withdraw, {"currency": "usdc"}, format="json")) == (
        409,
        "nothing_to_withdraw",
    )
    assert error(freelancer.post(withdraw, {"currency": "usd"}, format="json")) == (
        400,
        "wrong_rail",
    )
    assert error(freelancer.post(withdraw, {"currency": "eth", "to": "0x12"}, format="json")) == (
        400,
        "invalid_address",
    )
    assert error(
        freelancer.post(withdraw, {"currency": "eth", "to": ETH_ADDRESS}, format="json")
    ) == (400, "invalid_address")
    assert error(freelancer.post(withdraw, {"currency": "eth", "chain_id": 1}, format="json")) == (
        400,
        "wrong_chain",
    )
    stranger_wallet = chain_rail.accounts.stranger
    assert error(
        freelancer.post(withdraw, {"currency": "eth", "from": stranger_wallet}, format="json")
    ) == (409, "wallet_mismatch")
    nobody = api_for(verified_user())
    assert error(nobody.post(withdraw, {"currency": "eth"}, format="json")) == (
        409,
        "wallet_required",
    )
