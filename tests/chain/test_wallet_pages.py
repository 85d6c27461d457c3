"""The workroom's money panel on the chain rail: states in words, the buttons each party
may use, the wallet script, and the JSON its buttons return for the wallet to send."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from escrow.models import ChainEscrow
from marketplace.models import Contract, Milestone, Submission, Wallet
from tests.chain.conftest import _free_port
from tests.chain.wallet_helpers import (
    api_for,
    chain_status,
    fund_on_chain,
    mark,
    milestones,
    onchain_id,
    send_all,
    submit_on_chain,
)
from tests.factories import make_contract, make_job, make_proposal, make_user, verified_user

pytestmark = pytest.mark.django_db
S = Milestone.Status
ETH = 10**18


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def panel(user, contract: Contract, htmx: bool = True) -> str:
    headers = {"HX-Request": "true"} if htmx else {}
    response = browser(user).get(
        reverse("escrow_contract_panel", args=[contract.pk]), headers=headers
    )
    assert response.status_code == 200
    return response.content.decode()


def action_url(milestone: Milestone, action: str) -> str:
    return reverse("escrow_chain_action", args=[milestone.pk, action])


def press(user, milestone: Milestone, action: str, data: dict | None = None):
    return browser(user).post(action_url(milestone, action), data or {})


# --- what the panel shows ------------------------------------------------------------------


def test_client_panel_shows_states_in_words_the_fund_button_and_the_wallet_script(chain_rail):
    contract = chain_rail.contract("eth")
    first, _ = milestones(contract)
    html = panel(contract.client, contract)
    assert "Not funded yet." in html
    assert "Not created yet: the client's first funding creates it on chain." in html
    assert f'action="{action_url(first, "fund")}"' in html
    assert "data-chain-action" in html
    assert 'data-chain-id="31337"' in html
    assert 'data-confirmations="0"' in html
    assert "/static/js/chain_wallet.js" in html
    assert "<script>" not in html  # CSP: no inline scripts
    assert "No wallet linked" not in html
    assert "Nothing to withdraw in ETH" in html


def test_freelancer_sees_no_fund_button_and_a_note_without_a_wallet(chain_rail):
    contract = chain_rail.contract("eth")
    Wallet.objects.filter(user=contract.freelancer).delete()
    html = panel(contract.freelancer, contract)
    assert "No wallet linked" in html
    assert reverse("wallets") in html
    assert "Sign-In with Ethereum" in html
    assert "/fund/" not in html
    client_html = panel(contract.client, contract)
    assert "has not linked a wallet yet" in client_html


def test_buttons_follow_each_partys_allowed_actions(chain_rail):
    contract = chain_rail.contract("eth")
    first, second = milestones(contract)
    fund_on_chain(chain_rail, contract, first)
    client_html = panel(contract.client, contract)
    freelancer_html = panel(contract.freelancer, contract)
    assert "Funded: Ξ1.000000 is held by the escrow contract" in client_html
    for action in ("release", "refund-request", "dispute"):
        assert action_url(first, action) in client_html
    assert action_url(second, "fund") in client_html
    for action in ("submit", "refund", "dispute"):
        assert action_url(first, action) in freelancer_html
    assert action_url(first, "release") not in freelancer_html
    assert action_url(second, "fund") not in freelancer_html
    assert "Escrow " in client_html
    assert chain_rail.accounts.freelancer in client_html


def test_a_step_on_chain_but_not_yet_recorded_is_shown_as_waiting(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    send_all(chain_rail, press(contract.client, first, "fund").json(), chain_rail.accounts.client)
    html = panel(contract.client, contract)
    assert "On chain it is already funded: waiting for confirmations" in html
    assert action_url(first, "fund") not in html  # a second funding would only revert


def test_anchored_submission_shows_its_block(chain_rail):
    contract = chain_rail.contract("eth")
    first = submit_on_chain(
        chain_rail, fund_on_chain(chain_rail, contract, milestones(contract)[0])
    )
    submission = Submission.objects.get(milestone=first)
    html = panel(contract.client, contract)
    assert f"digest <code>{submission.digest}</code>" in html
    assert "not anchored on chain yet" in html
    submission.anchored_block = 42
    submission.anchored_tx = "0x" + "ab" * 32
    submission.save()
    html = panel(contract.freelancer, contract)
    assert "anchored in block 42" in html
    assert "Work submitted" in html
    assert action_url(first, "revision") in panel(contract.client, contract)


def test_credit_and_withdraw_button_after_a_release(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    send_all(
        chain_rail,
        api_for(contract.client).post(f"/api/v1/milestones/{first.pk}/approve/").json(),
        chain_rail.accounts.client,
    )
    mark(first, S.RELEASED)
    html = panel(contract.freelancer, contract)
    assert "Released: the freelancer&#x27;s share was credited" in html
    assert "You can withdraw Ξ0.900000" in html
    assert reverse("escrow_chain_withdraw") in html
    response = browser(contract.freelancer).post(
        reverse("escrow_chain_withdraw"), {"currency": "eth"}
    )
    assert response.status_code == 200
    send_all(chain_rail, response.json(), chain_rail.accounts.freelancer)
    assert chain_rail.chain.credit(chain_rail.accounts.freelancer) == 0
    assert "Nothing to withdraw in ETH" in panel(contract.freelancer, contract)


def test_panel_still_renders_when_the_node_is_down(chain_rail, settings):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{_free_port()}"
    html = panel(contract.client, contract)
    assert "The Ethereum node cannot be reached" in html
    assert action_url(first, "release") in html


def test_full_page_without_htmx_and_card_panel_unchanged(chain_rail):
    contract = chain_rail.contract("eth")
    html = panel(contract.client, contract, htmx=False)
    assert "Back to the workroom" in html
    assert 'id="money-panel"' in html
    card = make_contract(make_proposal(make_job(verified_user(is_client=True))))
    card_html = panel(card.client, card)
    assert "chain_wallet.js" not in card_html
    assert "Fund selected milestones" in card_html


# --- the buttons' JSON ---------------------------------------------------------------------


def test_fund_button_returns_transactions_that_fund_on_chain(chain_rail):
    contract = chain_rail.contract("usdc", amounts=(3_000_000, 4_000_000))
    chain_rail.mint(chain_rail.accounts.client, 3_000_000)
    first = milestones(contract)[0]
    response = press(
        contract.client, first, "fund", {"from": chain_rail.accounts.client, "chain_id": "31337"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["confirmations"] == 0
    assert len(body["transactions"]) == 3
    send_all(chain_rail, body, chain_rail.accounts.client)
    assert chain_status(chain_rail, contract, 0) == "Funded"


def test_submit_button_takes_message_and_files(chain_rail, tmp_media):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    response = press(
        contract.freelancer,
        first,
        "submit",
        {"message": "Here it is.", "files": [SimpleUploadedFile("notes.md", b"# Notes")]},
    )
    assert response.status_code == 200, response.json()
    send_all(chain_rail, response.json(), chain_rail.accounts.freelancer)
    submission = Submission.objects.get(milestone=first)
    state = chain_rail.chain.milestone(onchain_id(contract), 0)
    assert state["deliverable"].hex() == submission.digest
    assert submission.files.get().name == "notes.md"


def test_release_button_takes_an_amount_in_the_currency(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    response = press(contract.client, first, "release", {"amount": "0.5"})
    send_all(chain_rail, response.json(), chain_rail.accounts.client)
    assert chain_rail.chain.credit(chain_rail.accounts.client) == ETH // 2
    bad = press(contract.client, first, "release", {"amount": "lots"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("action", "party", "sender", "outcome"),
    [
        ("revision", "client", "client", "Funded"),
        ("refund", "freelancer", "freelancer", "Refunded"),
        ("dispute", "freelancer", "freelancer", "Disputed"),
    ],
)
def test_decision_buttons_move_the_escrow(chain_rail, action, party, sender, outcome):
    contract = chain_rail.contract("eth")
    first = submit_on_chain(
        chain_rail, fund_on_chain(chain_rail, contract, milestones(contract)[0])
    )
    response = press(getattr(contract, party), first, action, {"reason": "More tests."})
    assert response.status_code == 200, response.json()
    send_all(chain_rail, response.json(), getattr(chain_rail.accounts, sender))
    assert chain_status(chain_rail, contract, 0) == outcome


def test_refund_request_button(chain_rail):
    contract = chain_rail.contract("eth")
    first = fund_on_chain(chain_rail, contract, milestones(contract)[0])
    response = press(contract.client, first, "refund-request")
    send_all(chain_rail, response.json(), chain_rail.accounts.client)
    assert chain_rail.chain.milestone(onchain_id(contract), 0)["refund_requested"] is True
    assert "The client asked for a refund" in panel(contract.freelancer, contract)


def test_buttons_answer_errors_as_json(chain_rail):
    contract = chain_rail.contract("eth")
    first = milestones(contract)[0]
    mismatch = press(contract.client, first, "fund", {"from": chain_rail.accounts.stranger})
    assert mismatch.status_code == 409
    assert mismatch.json()["code"] == "wallet_mismatch"
    wrong_chain = press(contract.client, first, "fund", {"chain_id": "1"})
    assert (wrong_chain.status_code, wrong_chain.json()["code"]) == (400, "wrong_chain")
    assert press(contract.client, first, "launder").status_code == 404
    assert browser(contract.client).get(action_url(first, "fund")).status_code == 405
    stranger = press(verified_user(), first, "fund")
    assert (stranger.status_code, stranger.json()["code"]) == (404, "not_found")
    unverified = press(make_user(), first, "fund")
    assert unverified.json()["code"] == "email_unverified"  # checked first, as on the API
    anonymous = Client().post(action_url(first, "fund"))
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert not ChainEscrow.objects.exists()


def test_unverified_party_is_told_to_verify(chain_rail):
    contract = chain_rail.contract("eth")
    contract.client.emailaddress_set.update(verified=False)
    response = press(contract.client, milestones(contract)[0], "fund")
    assert (response.status_code, response.json()["code"]) == (403, "email_unverified")


def test_withdraw_button_with_nothing_to_withdraw(chain_rail):
    contract = chain_rail.contract("eth")
    response = browser(contract.client).post(reverse("escrow_chain_withdraw"), {"currency": "eth"})
    assert (response.status_code, response.json()["code"]) == (409, "nothing_to_withdraw")
