"""Dispute pages for the parties: the list, opening a dispute, the case page, evidence
downloads, the workroom's links, and 404s for everyone else. The forms of the case
page are in test_pages_actions.py."""

from __future__ import annotations

import hashlib

import pytest
from allauth.account.models import EmailAddress
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from disputes.models import Dispute, DisputeEvent
from disputes.services import (
    accept_settlement,
    add_evidence,
    escalate_dispute,
    open_dispute,
    propose_settlement,
    resolve_dispute,
)
from marketplace.models import Contract, Milestone
from tests.disputes.helpers import funded_milestone, make_arbiter, money
from tests.escrow.money import first_milestone, fund, streamed
from tests.factories import (
    fund_for_test,
    make_contract,
    make_job,
    make_proposal,
    make_user,
    verified_user,
)

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html_of(response) -> str:
    return response.content.decode()


def notices(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def case_url(dispute: Dispute) -> str:
    return reverse("dispute_detail", args=[dispute.pk])


def card_case(**opening: object) -> tuple[Contract, Milestone, Dispute]:
    """A $1,000.00 card milestone the client disputes."""
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason=str(opening.get("reason", "quality")),
        description=str(opening.get("description", "Two chapters are missing.")),
        amount=opening.get("amount"),  # type: ignore[arg-type]
    )
    milestone.refresh_from_db()
    return contract, milestone, dispute


def chain_milestone() -> tuple[Contract, Milestone]:
    """A funded milestone of 1 ETH on the chain rail."""
    client = verified_user(is_client=True)
    freelancer = verified_user(is_client=False, is_freelancer=True)
    job = make_job(client, currency="eth", budget=10**18)
    contract = make_contract(make_proposal(job, freelancer, amounts=(10**18,)))
    return contract, fund_for_test(first_milestone(contract))


def db_state(dispute: Dispute | None = None) -> dict[str, object]:
    """What a refusal must leave alone."""
    state: dict[str, object] = {
        "disputes": list(Dispute.objects.values_list("pk", "status").order_by("pk")),
        "events": DisputeEvent.objects.count(),
        "milestones": list(Milestone.objects.values_list("pk", "status").order_by("pk")),
    }
    if dispute is not None:
        state["evidence"] = dispute.evidence.count()
        state["offers"] = list(dispute.offers.values_list("pk", "status").order_by("pk"))
    return state


# --- navigation and the list ---------------------------------------------------------------


def test_navigation_links_to_disputes_for_logged_in_users(client):
    assert 'href="/disputes/"' not in html_of(client.get("/"))
    client.force_login(make_user())
    assert 'href="/disputes/"' in html_of(client.get("/"))


def test_dispute_pages_need_a_login(client):
    response = client.get(reverse("dispute_list"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_list_shows_each_party_the_case_in_words_with_amount_and_deadline():
    contract, _, dispute = card_case(amount=40_000)
    for party in (contract.client, contract.freelancer):
        response = browser(party).get(reverse("dispute_list"))
        html = html_of(response)
        assert response.status_code == 200
        assert case_url(dispute) in html
        assert "“Milestone 1”" in html
        assert "$400.00" in html
        assert "Open — waiting for a response" in html
        assert "Response due:" in html
        assert f"{dispute.response_due_at:%-d %b %Y}" in html
    assert "Respond by" in html_of(browser(contract.freelancer).get(reverse("dispute_list")))


def test_list_leaves_out_other_peoples_cases():
    _, _, dispute = card_case()
    html = html_of(browser(verified_user()).get(reverse("dispute_list")))
    assert case_url(dispute) not in html
    assert "You have no disputes" in html


# --- the workroom links --------------------------------------------------------------------


def test_workroom_offers_a_dispute_on_funded_milestones_and_links_to_an_open_case():
    contract, milestone = funded_milestone(amounts=(100_000, 50_000))
    draft = contract.milestones.get(position=2)
    workroom = reverse("contract_workroom", args=[contract.pk])
    html = html_of(browser(contract.freelancer).get(workroom))
    open_url = reverse("milestone_dispute", args=[milestone.pk])
    assert f'<a href="{open_url}">Open a dispute' in html
    assert reverse("milestone_dispute", args=[draft.pk]) not in html

    open_dispute(actor=contract.client, milestone_id=milestone.pk, reason="scope", description="x")
    html = html_of(browser(contract.freelancer).get(workroom))
    assert f'<a href="{open_url}">View the dispute' in html


# --- opening a dispute ---------------------------------------------------------------------


def test_open_page_offers_reasons_and_defaults_the_amount_to_the_held_amount():
    contract, milestone = funded_milestone()
    response = browser(contract.client).get(reverse("milestone_dispute", args=[milestone.pk]))
    html = html_of(response)
    assert response.status_code == 200
    assert "Open a dispute on “Milestone 1”" in html
    assert 'value="1000.00"' in html
    assert "$1,000.00" in html
    assert "Work does not meet the agreed quality" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_opening_through_the_page_disputes_the_milestone_and_locks_its_escrow():
    contract, milestone = funded_milestone()
    before = money(contract, milestone)
    response = browser(contract.freelancer).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "payment", "description": "The client went silent.", "amount": "250.50"},
        follow=True,
    )
    dispute = Dispute.objects.get(milestone=milestone)
    milestone.refresh_from_db()
    assert response.redirect_chain[-1][0] == case_url(dispute)
    assert dispute.opened_by == contract.freelancer
    assert int(dispute.amount_in_dispute) == 25_050
    assert dispute.reason == "payment"
    assert milestone.status == Milestone.Status.DISPUTED
    assert money(contract, milestone) == before  # locked, not moved
    assert any("Dispute opened" in notice for notice in notices(response))
    html = html_of(response)
    assert "$250.50" in html
    assert "The client went silent." in html


def test_a_milestone_with_an_open_case_leads_to_the_case():
    contract, milestone, dispute = card_case()
    response = browser(contract.freelancer).get(reverse("milestone_dispute", args=[milestone.pk]))
    assert response.status_code == 302
    assert response["Location"] == case_url(dispute)


@pytest.mark.parametrize("status", [Milestone.Status.DRAFT, Milestone.Status.RELEASED])
def test_disputing_a_draft_or_released_milestone_is_a_form_error_and_writes_nothing(status):
    contract = make_contract(make_proposal(make_job(verified_user(is_client=True))))
    milestone = first_milestone(contract)
    Milestone.objects.filter(pk=milestone.pk).update(status=status)
    before = db_state()
    response = browser(contract.client).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "quality", "description": "Not as agreed.", "amount": "10.00"},
    )
    html = html_of(response)
    assert response.status_code == 409
    assert 'class="form-errors" role="alert"' in html
    assert "Only a funded or submitted milestone can be disputed" in html
    assert db_state() == before


def test_a_second_dispute_on_one_milestone_is_a_form_error_and_writes_nothing():
    contract, milestone, _ = card_case()
    before = db_state()
    response = browser(contract.freelancer).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "scope", "description": "Me too.", "amount": "10.00"},
    )
    assert response.status_code == 409
    assert "already has an open dispute" in html_of(response)
    assert db_state() == before


def test_an_amount_above_the_escrow_is_a_form_error_and_writes_nothing():
    contract, milestone = funded_milestone()
    before = db_state()
    response = browser(contract.client).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "quality", "description": "Not as agreed.", "amount": "1000.01"},
    )
    assert response.status_code == 400
    assert "The amount in dispute is between 1 and 100000 minor units." in html_of(response)
    assert db_state() == before


def test_an_amount_that_is_not_a_number_is_a_field_error():
    contract, milestone = funded_milestone()
    response = browser(contract.client).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "quality", "description": "Not as agreed.", "amount": "lots"},
    )
    assert response.status_code == 400
    assert "Enter a number." in html_of(response)
    assert not Dispute.objects.exists()


def test_opening_on_the_chain_rail_records_the_case_and_asks_for_the_wallet_transaction():
    contract, milestone = chain_milestone()
    response = browser(contract.client).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "not_delivered", "description": "Nothing arrived.", "amount": "0.5"},
        follow=True,
    )
    dispute = Dispute.objects.get(milestone=milestone)
    milestone.refresh_from_db()
    assert int(dispute.amount_in_dispute) == 5 * 10**17
    assert milestone.status == Milestone.Status.FUNDED  # the wallet's transaction locks it
    assert any("send" in n and "dispute transaction" in n for n in notices(response))
    html = html_of(response)
    assert "The escrow contract has not locked this milestone yet." in html
    assert "Ξ0.500000" in html


# --- the case page -------------------------------------------------------------------------


def test_case_page_tells_each_party_where_it_stands_and_what_comes_next():
    contract, _, dispute = card_case(amount=60_000)
    due = f"{dispute.response_due_at:%-d %b %Y}"
    opener = html_of(browser(contract.client).get(case_url(dispute)))
    respondent_page = browser(contract.freelancer).get(case_url(dispute))
    respondent = html_of(respondent_page)
    assert respondent_page.status_code == 200
    for html in (opener, respondent):
        assert f"Dispute {dispute.pk} on “Milestone 1”" in html
        assert "Open — waiting for a response" in html
        assert "Work does not meet the agreed quality" in html
        assert "Two chapters are missing." in html
        assert escape(contract.client.display_name) in html
        assert escape(contract.freelancer.display_name) in html
        assert "$600.00" in html  # in dispute
        assert "$1,000.00" in html  # held
        assert due in html
        assert "Opened</strong> by" in html  # the timeline
    assert f"Waiting for {escape(contract.freelancer.display_name)} to respond by" in opener
    assert "the whole escrow goes back to the client" in opener
    assert "Respond by" in respondent
    assert "Respond to the dispute" in respondent
    assert "Respond to the dispute" not in opener
    assert "Withdraw the dispute" in opener
    assert "Withdraw the dispute" not in respondent


def test_case_page_lists_offers_evidence_and_every_event(tmp_media):
    contract, _, dispute = card_case()
    rows = add_evidence(
        actor=contract.freelancer,
        dispute_id=dispute.pk,
        text="Here is the brief.",
        files=[SimpleUploadedFile("brief.txt", b"the agreed brief\n")],
    )
    propose_settlement(actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=2_500)
    html = html_of(browser(contract.freelancer).get(case_url(dispute)))
    digest = hashlib.sha256(b"the agreed brief\n").hexdigest()
    assert "brief.txt" in html
    assert "17\xa0bytes" in html
    assert digest in html
    download = reverse("dispute_evidence_download", args=[dispute.pk, rows[1].pk])
    assert f'href="{download}"' in html
    assert "Here is the brief." in html
    # 25 % of $1,000.00: $250.00 before the 10 % fee, $225.00 after it; $750.00 back.
    assert "25 % to the freelancer: $250.00 to the freelancer ($225.00 after the $25.00" in html
    assert "$750.00 back to the client" in html
    assert "Accept this offer" in html
    for kind in ("Opened", "Evidence added", "Settlement offered"):
        assert f"<strong>{kind}</strong>" in html
    # The client made the offer: no accept button for them.
    assert "Accept this offer" not in html_of(browser(contract.client).get(case_url(dispute)))


def test_case_page_loads_the_split_script_from_a_file():
    contract, _, dispute = card_case()
    html = html_of(browser(contract.client).get(case_url(dispute)))
    assert "/static/js/disputes.js" in html
    assert 'data-held="100000"' in html
    assert 'data-fee-bps="1000"' in html
    assert "<script>" not in html


def test_evidence_download_streams_the_file_to_either_party(tmp_media):
    contract, _, dispute = card_case()
    rows = add_evidence(
        actor=contract.client,
        dispute_id=dispute.pk,
        files=[SimpleUploadedFile("log.txt", b"12:00 nothing delivered")],
    )
    url = reverse("dispute_evidence_download", args=[dispute.pk, rows[0].pk])
    for party in (contract.client, contract.freelancer):
        response = browser(party).get(url)
        assert response.status_code == 200
        assert streamed(response) == "12:00 nothing delivered"
        assert 'filename="log.txt"' in response["Content-Disposition"]
        assert response["Cache-Control"] == "private, no-store"


def test_evidence_of_another_case_is_404_through_this_case(tmp_media):
    contract, _, dispute = card_case()
    other_contract, _, other = card_case()
    rows = add_evidence(
        actor=other_contract.client,
        dispute_id=other.pk,
        files=[SimpleUploadedFile("x.txt", b"x")],
    )
    url = reverse("dispute_evidence_download", args=[dispute.pk, rows[0].pk])
    assert browser(contract.client).get(url).status_code == 404


# --- strangers -------------------------------------------------------------------------------


def _routes(dispute: Dispute, evidence_id: int, offer_id: int) -> list[tuple[str, str]]:
    pk = dispute.pk
    return [
        ("get", reverse("dispute_detail", args=[pk])),
        ("get", reverse("dispute_evidence_download", args=[pk, evidence_id])),
        ("get", reverse("milestone_dispute", args=[dispute.milestone_id])),
        ("post", reverse("milestone_dispute", args=[dispute.milestone_id])),
        ("post", reverse("dispute_respond", args=[pk])),
        ("post", reverse("dispute_add_evidence", args=[pk])),
        ("post", reverse("dispute_propose", args=[pk])),
        ("post", reverse("dispute_accept_offer", args=[pk, offer_id])),
        ("post", reverse("dispute_escalate", args=[pk])),
        ("post", reverse("dispute_withdraw", args=[pk])),
        ("post", reverse("dispute_appeal", args=[pk])),
    ]


def test_a_stranger_gets_404_on_every_dispute_page_and_changes_nothing(tmp_media):
    contract, _, dispute = card_case()
    rows = add_evidence(
        actor=contract.client, dispute_id=dispute.pk, files=[SimpleUploadedFile("a.txt", b"a")]
    )
    offer = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=9_000
    )
    stranger = browser(verified_user())
    before = db_state(dispute)
    body = {
        "text": "mine now",
        "reason": "quality",
        "description": "x",
        "amount": "1.00",
        "freelancer_percent": "100",
    }
    for method, url in _routes(dispute, rows[0].pk, offer.pk):
        response = getattr(stranger, method)(url, body) if method == "post" else stranger.get(url)
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    assert db_state(dispute) == before


def test_an_offer_of_another_case_is_404_through_this_case():
    contract, _, dispute = card_case()
    other_contract, _, other = card_case()
    offer = propose_settlement(
        actor=other_contract.freelancer, dispute_id=other.pk, freelancer_share_bps=9_000
    )
    before = db_state(other)
    response = browser(contract.freelancer).post(
        reverse("dispute_accept_offer", args=[dispute.pk, offer.pk])
    )
    assert response.status_code == 404
    assert db_state(other) == before


def test_the_list_costs_the_same_queries_for_one_case_or_many():
    contract, _, _ = card_case()
    reader = browser(contract.client)
    with CaptureQueriesContext(connection) as one:
        reader.get(reverse("dispute_list"))
    for position in (2, 3, 4):
        milestone = fund(
            contract.milestones.create(position=position, title=f"Part {position}", amount=10_000)
        )
        open_dispute(
            actor=contract.freelancer, milestone_id=milestone.pk, reason="other", description="x"
        )
    with CaptureQueriesContext(connection) as four:
        html = html_of(reader.get(reverse("dispute_list")))
    assert html.count('href="/disputes/') == 4 + 1  # the cases and the navigation
    assert len(four) == len(one)


def test_a_decided_milestone_leads_to_its_latest_case():
    contract, milestone, dispute = card_case()
    offer = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=5_000
    )
    accept_settlement(actor=contract.client, offer_id=offer.pk)
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RESOLVED
    workroom = html_of(
        browser(contract.client).get(reverse("contract_workroom", args=[contract.pk]))
    )
    url = reverse("milestone_dispute", args=[milestone.pk])
    assert f'<a href="{url}">View the dispute' in workroom
    response = browser(contract.client).get(url)
    assert response.status_code == 302
    assert response["Location"] == case_url(dispute)


def test_a_large_decision_waits_for_a_second_arbiter_in_words():
    contract, milestone = funded_milestone(amounts=(250_000,))  # above the $1,000.00 threshold
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="x"
    )
    arbiter = make_arbiter()
    escalate_dispute(actor=contract.freelancer, dispute_id=dispute.pk)
    resolve_dispute(
        actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=5_000, rationale="Half done."
    )
    html = html_of(browser(contract.freelancer).get(case_url(dispute)))
    assert "Decided — waiting for a second arbiter" in html
    assert "a second arbiter must confirm the decision before it counts" in html
    assert "Appeal the decision" not in html


def test_an_unverified_party_is_sent_to_verify_before_opening_a_dispute():
    contract, milestone = funded_milestone()
    EmailAddress.objects.filter(user=contract.client).update(verified=False)
    response = browser(contract.client).post(
        reverse("milestone_dispute", args=[milestone.pk]),
        {"reason": "quality", "description": "Not as agreed.", "amount": "10.00"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email")
    assert not Dispute.objects.exists()
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
