"""The case page's forms: each POST changes the case through its service; each refusal
shows the service's detail on the page and changes nothing."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from disputes.models import Dispute, Evidence, SettlementOffer
from disputes.services import (
    escalate_dispute,
    open_dispute,
    propose_settlement,
    resolve_dispute,
    respond_to_dispute,
)
from marketplace.models import Milestone
from tests.disputes.helpers import make_arbiter, money
from tests.disputes.test_pages import (
    browser,
    card_case,
    case_url,
    chain_milestone,
    db_state,
    html_of,
    notices,
)
from tests.escrow.money import balance

pytestmark = pytest.mark.django_db

ERROR_BOX = 'class="form-errors" role="alert"'


def post(client: Client, name: str, dispute: Dispute, data=None, *args, **kwargs):
    return client.post(reverse(name, args=[dispute.pk, *args]), data or {}, **kwargs)


def decided_case(share_bps: int = 7_000):
    """A card case an arbiter decided in the first round: open to appeal."""
    contract, milestone, dispute = card_case()
    arbiter = make_arbiter()
    escalate_dispute(actor=contract.client, dispute_id=dispute.pk)
    resolve_dispute(
        actor=arbiter,
        dispute_id=dispute.pk,
        freelancer_share_bps=share_bps,
        rationale="Most of the chapters arrived on time.",
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.DECIDED
    return contract, milestone, dispute, arbiter


# --- respond -------------------------------------------------------------------------------


def test_the_other_party_responds_through_the_page():
    contract, _, dispute = card_case()
    response = post(
        browser(contract.freelancer),
        "dispute_respond",
        dispute,
        {"text": "Both chapters are in the shared folder."},
        follow=True,
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.RESPONDED
    assert dispute.events.filter(kind="responded").get().text == (
        "Both chapters are in the shared folder."
    )
    assert "Response sent." in " ".join(notices(response))
    html = html_of(response)
    assert "Both sides have spoken." in html
    assert "Both chapters are in the shared folder." in html  # on the timeline


def test_the_opener_may_not_respond_and_nothing_changes():
    contract, _, dispute = card_case()
    before = db_state(dispute)
    response = post(browser(contract.client), "dispute_respond", dispute, {"text": "Me again."})
    assert response.status_code == 403
    html = html_of(response)
    assert ERROR_BOX in html
    assert "The other party responds to a dispute." in html
    assert db_state(dispute) == before


def test_an_empty_response_is_a_field_error():
    contract, _, dispute = card_case()
    before = db_state(dispute)
    response = post(browser(contract.freelancer), "dispute_respond", dispute, {"text": ""})
    assert response.status_code == 400
    assert "This field is required." in html_of(response)
    assert db_state(dispute) == before


# --- evidence ------------------------------------------------------------------------------


def test_an_evidence_upload_lands_in_storage_with_its_sha256_shown(tmp_media):
    contract, _, dispute = card_case()
    content = b"%PDF-1.4 the signed brief"
    response = post(
        browser(contract.freelancer),
        "dispute_add_evidence",
        dispute,
        {
            "text": "The brief we signed.",
            "files": [SimpleUploadedFile("brief.pdf", content, "application/pdf")],
        },
        follow=True,
    )
    digest = hashlib.sha256(content).hexdigest()
    stored = Evidence.objects.get(dispute=dispute, name="brief.pdf")
    assert stored.sha256 == digest
    assert stored.size == len(content)
    assert default_storage.exists(stored.file.name)
    with default_storage.open(stored.file.name, "rb") as handle:
        assert handle.read() == content
    assert Evidence.objects.get(dispute=dispute, name="").text == "The brief we signed."
    assert f"Evidence added: brief.pdf (SHA-256 {digest})." in notices(response)
    html = html_of(response)
    assert f"<code>{digest}</code>" in html
    assert reverse("dispute_evidence_download", args=[dispute.pk, stored.pk]) in html


def test_a_file_type_the_service_refuses_is_a_form_error_and_nothing_is_stored(tmp_media):
    contract, _, dispute = card_case()
    before = db_state(dispute)
    response = post(
        browser(contract.client),
        "dispute_add_evidence",
        dispute,
        {"files": [SimpleUploadedFile("tool.exe", b"MZ\x90\x00")]},
    )
    assert response.status_code == 400
    html = html_of(response)
    assert ERROR_BOX in html
    assert "tool.exe: this type of file is not allowed." in html
    assert db_state(dispute) == before
    assert not (tmp_media / "evidence").exists()


def test_empty_evidence_is_refused():
    contract, _, dispute = card_case()
    before = db_state(dispute)
    response = post(browser(contract.client), "dispute_add_evidence", dispute, {"text": ""})
    assert response.status_code == 400
    assert "Add a statement or a file." in html_of(response)
    assert db_state(dispute) == before


def test_evidence_after_the_case_closed_is_refused_with_the_reason():
    contract, _, dispute = card_case()
    offer = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=5_000
    )
    post(browser(contract.client), "dispute_accept_offer", dispute, {}, offer.pk)
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.SETTLED
    page = html_of(browser(contract.client).get(case_url(dispute)))
    assert "Add evidence" not in page  # no form on a closed case
    before = db_state(dispute)
    response = post(browser(contract.client), "dispute_add_evidence", dispute, {"text": "Late."})
    assert response.status_code == 409
    assert "This dispute is settled by agreement." in html_of(response)
    assert db_state(dispute) == before


# --- offers --------------------------------------------------------------------------------


def test_a_party_offers_a_split_in_percent():
    contract, _, dispute = card_case()
    response = post(
        browser(contract.client),
        "dispute_propose",
        dispute,
        {"freelancer_percent": "62.5"},
        follow=True,
    )
    offer = SettlementOffer.objects.get(dispute=dispute)
    assert offer.freelancer_share_bps == 6_250
    assert offer.proposed_by == contract.client
    assert offer.status == SettlementOffer.Status.OPEN
    assert "Offer sent: 62.5 % to the freelancer." in " ".join(notices(response))
    other = html_of(browser(contract.freelancer).get(case_url(dispute)))
    # $625.00 of $1,000.00 before the 10 % fee ($562.50 after), $375.00 back to the client.
    assert "62.5 % to the freelancer: $625.00 to the freelancer ($562.50 after the $62.50" in other
    assert "$375.00 back to the client" in other
    assert reverse("dispute_accept_offer", args=[dispute.pk, offer.pk]) in other


@pytest.mark.parametrize("percent", ["100.01", "-1", "12.345", "half"])
def test_a_split_outside_0_to_100_percent_is_a_field_error_and_writes_nothing(percent):
    contract, _, dispute = card_case()
    before = db_state(dispute)
    response = post(
        browser(contract.client), "dispute_propose", dispute, {"freelancer_percent": percent}
    )
    assert response.status_code == 400
    assert 'class="field-error" role="alert"' in html_of(response)
    assert db_state(dispute) == before


def test_accepting_the_other_partys_offer_settles_and_moves_the_money_on_the_card_rail():
    contract, milestone, dispute = card_case()
    offer = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=6_000
    )
    client_before = balance(contract.client)
    response = post(
        browser(contract.client), "dispute_accept_offer", dispute, {}, offer.pk, follow=True
    )
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    offer.refresh_from_db()
    assert offer.status == SettlementOffer.Status.ACCEPTED
    assert dispute.status == Dispute.Status.SETTLED
    assert milestone.status == Milestone.Status.RESOLVED
    assert balance(contract.client) == client_before + 40_000
    assert balance(contract.freelancer, "pending") == 54_000  # $600.00 less the 10 % fee
    assert "The dispute is settled and the money has moved." in " ".join(notices(response))
    html = html_of(response)
    assert "Settled by agreement" in html
    assert "The agreement" in html
    assert "60 % to the freelancer: $600.00 to the freelancer ($540.00 after the $60.00" in html


def test_a_counter_offer_replaces_the_open_one():
    contract, _, dispute = card_case()
    first = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=9_000
    )
    post(browser(contract.client), "dispute_propose", dispute, {"freelancer_percent": "40"})
    first.refresh_from_db()
    assert first.status == SettlementOffer.Status.COUNTERED
    counter = SettlementOffer.objects.get(dispute=dispute, status=SettlementOffer.Status.OPEN)
    assert counter.freelancer_share_bps == 4_000
    assert counter.proposed_by == contract.client


def test_accepting_ones_own_offer_is_refused_and_nothing_moves():
    contract, milestone, dispute = card_case()
    offer = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=1_000
    )
    before, cash = db_state(dispute), money(contract, milestone)
    response = post(browser(contract.client), "dispute_accept_offer", dispute, {}, offer.pk)
    assert response.status_code == 403
    html = html_of(response)
    assert ERROR_BOX in html
    assert "The other party accepts an offer." in html
    assert db_state(dispute) == before
    assert money(contract, milestone) == cash


def test_accepting_on_the_chain_rail_says_an_arbiter_sends_the_split():
    contract, milestone = chain_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="x"
    )
    offer = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=5_000
    )
    response = post(
        browser(contract.freelancer), "dispute_accept_offer", dispute, {}, offer.pk, follow=True
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.ESCALATED
    assert dispute.freelancer_share_bps == 5_000
    said = " ".join(notices(response))
    assert "an arbiter sends the agreed split to the escrow contract" in said
    assert "waits for an arbiter to carry it out" in html_of(response)


# --- escalate and withdraw -------------------------------------------------------------------


def test_a_party_asks_for_an_arbiter():
    contract, _, dispute = card_case()
    arbiter = make_arbiter()
    response = post(
        browser(contract.freelancer),
        "dispute_escalate",
        dispute,
        {"note": "We cannot agree."},
        follow=True,
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.ESCALATED
    assert dispute.arbiter == arbiter  # the only eligible arbiter takes it
    assert "An arbiter has the case now" in " ".join(notices(response))
    html = html_of(response)
    assert "With an arbiter" in html
    assert "decides by" in html
    assert "Decision due:" in html
    assert "Ask for an arbiter" not in html


def test_the_opener_withdraws_and_the_milestone_is_funded_again():
    contract, milestone, dispute = card_case()
    cash = money(contract, milestone)
    response = post(browser(contract.client), "dispute_withdraw", dispute, follow=True)
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    assert dispute.status == Dispute.Status.WITHDRAWN
    assert milestone.status == Milestone.Status.FUNDED
    assert money(contract, milestone) == cash
    went_back = "The milestone went back to “Funded — money in escrow”."
    assert f"Dispute withdrawn. {went_back}" in notices(response)
    assert f"Withdrawn by {escape(contract.client.display_name)}. {went_back}" in html_of(response)


def test_the_other_party_may_not_withdraw_and_nothing_changes():
    contract, _, dispute = card_case()
    before = db_state(dispute)
    response = post(browser(contract.freelancer), "dispute_withdraw", dispute)
    assert response.status_code == 403
    assert ERROR_BOX in html_of(response)
    assert db_state(dispute) == before


# --- the decision and the appeal ---------------------------------------------------------------


def test_both_parties_read_the_decision_with_its_rationale_and_the_appeal_deadline():
    contract, _, dispute, arbiter = decided_case()
    for party in (contract.client, contract.freelancer):
        html = html_of(browser(party).get(case_url(dispute)))
        assert "Decided — open to appeal" in html
        assert "The arbiter's rationale" in html
        assert "Most of the chapters arrived on time." in html
        assert "70 % to the freelancer: $700.00 to the freelancer ($630.00 after the $70.00" in html
        assert "$300.00 back to the client" in html
        assert escape(arbiter.display_name) in html
        assert "Appeal until:" in html
        assert f"{dispute.appeal_due_at:%-d %b %Y}" in html
        assert "Appeal the decision" in html
        assert "Withdraw the dispute" not in html


def test_a_party_appeals_through_the_page():
    contract, _, dispute, _ = decided_case()
    second = make_arbiter()
    response = post(
        browser(contract.freelancer),
        "dispute_appeal",
        dispute,
        {"reason": "The arbiter missed the delivery log."},
        follow=True,
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.ESCALATED
    assert dispute.is_appeal
    assert dispute.appealed_by == contract.freelancer
    assert dispute.arbiter == second  # never the arbiter who decided
    assert "Appeal sent." in " ".join(notices(response))
    html = html_of(response)
    assert "Appealed: a different arbiter reviews the case." in html
    assert "The arbiter missed the delivery log." in html
    assert "Appeal the decision" not in html


def test_an_appeal_after_the_deadline_is_refused_and_nothing_changes():
    contract, _, dispute, _ = decided_case()
    Dispute.objects.filter(pk=dispute.pk).update(
        appeal_due_at=timezone.now() - timedelta(minutes=1)
    )
    before = db_state(dispute)
    response = post(
        browser(contract.client), "dispute_appeal", dispute, {"reason": "Too late, I know."}
    )
    assert response.status_code == 409
    html = html_of(response)
    assert ERROR_BOX in html
    assert "The appeal window closed on" in html
    assert db_state(dispute) == before
    dispute.refresh_from_db()
    assert dispute.appealed_by is None


def test_an_undecided_case_cannot_be_appealed():
    contract, _, dispute = card_case()
    respond_to_dispute(actor=contract.freelancer, dispute_id=dispute.pk, text="No.")
    before = db_state(dispute)
    response = post(browser(contract.client), "dispute_appeal", dispute, {"reason": "Why not."})
    assert response.status_code == 409
    assert "Only a decision open to appeal can be appealed" in html_of(response)
    assert db_state(dispute) == before


def test_page_forms_need_the_csrf_token():
    contract, _, dispute = card_case()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(contract.freelancer)
    response = post(strict, "dispute_respond", dispute, {"text": "Hello."})
    assert response.status_code == 403
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.OPEN
