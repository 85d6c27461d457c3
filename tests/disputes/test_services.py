"""Dispute flows on the card rail, through the real ledger services."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from disputes.models import Dispute, DisputeEvent, SettlementOffer
from disputes.services import (
    accept_settlement,
    add_evidence,
    escalate_dispute,
    open_dispute,
    propose_settlement,
    resolve_dispute,
    respond_to_dispute,
)
from escrow.models import Refund, Release
from marketplace.models import Contract, Milestone
from tests.disputes.helpers import funded_milestone, lapse_appeal_window, make_arbiter, money
from tests.escrow.money import submit

pytestmark = pytest.mark.django_db
Status = Dispute.Status


def kinds(dispute: Dispute) -> list[str]:
    return list(dispute.events.values_list("kind", flat=True))


def test_opening_disputes_the_milestone_and_sets_the_response_deadline(settings: Any) -> None:
    settings.DISPUTE_RESPONSE_DAYS = 5
    contract, milestone = funded_milestone()
    submit(milestone)
    before = money(contract, milestone)
    dispute = open_dispute(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason="quality",
        description="The report is missing two chapters.",
        amount=40_000,
    )
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DISPUTED
    assert dispute.status == Status.OPEN
    assert dispute.amount_in_dispute == 40_000
    assert dispute.opened_by == contract.client
    expected_due = timezone.now() + timedelta(days=5)
    assert abs(dispute.response_due_at - expected_due) < timedelta(minutes=1)
    assert kinds(dispute) == ["opened"]
    assert money(contract, milestone) == before  # locked, not moved
    assert contract.activity.filter(verb="dispute_opened").exists()


def test_the_freelancer_may_dispute_a_funded_milestone_for_its_whole_amount() -> None:
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.freelancer,
        milestone_id=milestone.pk,
        reason="unresponsive",
        description="No answer for three weeks.",
    )
    assert dispute.amount_in_dispute == milestone.amount
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DISPUTED


def test_settling_by_counter_offer_pays_the_split_with_the_fee_only_on_the_freelancer_part(
    django_capture_on_commit_callbacks: Any,
) -> None:
    contract, milestone = funded_milestone()
    submit(milestone)
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    respond_to_dispute(actor=contract.freelancer, dispute_id=dispute.pk, text="It is complete.")
    first = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=8_000
    )
    counter = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=5_000
    )
    before = money(contract, milestone)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        accepted = accept_settlement(actor=contract.freelancer, offer_id=counter.pk)
    assert callbacks  # both parties are told
    fee = 50_000 * contract.fee_bps // 10_000
    assert money(contract, milestone) == {
        "client": before["client"] + 50_000,
        "freelancer_pending": before["freelancer_pending"] + 50_000 - fee,
        "escrow": 0,
        "fees": before["fees"] + fee,
        "transfers": before["transfers"] + 3,
    }
    first.refresh_from_db()
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    assert first.status == SettlementOffer.Status.COUNTERED
    assert accepted.status == SettlementOffer.Status.ACCEPTED
    assert dispute.status == Status.SETTLED
    assert dispute.freelancer_share_bps == 5_000
    assert dispute.resolved_by == contract.freelancer
    assert dispute.resolved_at is not None
    assert milestone.status == Milestone.Status.RESOLVED
    assert kinds(dispute) == ["opened", "responded", "offer", "offer", "offer_accepted", "settled"]
    release = Release.objects.get(milestone=milestone)
    assert (release.amount, release.fee, release.returned_amount) == (50_000, fee, 50_000)
    contract.refresh_from_db()
    assert contract.status == Contract.Status.COMPLETED


def test_a_new_offer_replaces_the_partys_own_open_offer() -> None:
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="scope", description="Scope."
    )
    old = propose_settlement(actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=0)
    new = propose_settlement(actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=100)
    old.refresh_from_db()
    assert old.status == SettlementOffer.Status.WITHDRAWN
    assert new.status == SettlementOffer.Status.OPEN


@pytest.mark.parametrize("bps", [7_000, 0, 10_000, 1])
def test_an_arbiter_decides_an_escalated_dispute_with_a_split(bps: int) -> None:
    contract, milestone = funded_milestone((100_000, 50_000))
    submit(milestone)
    arbiter = make_arbiter()
    dispute = open_dispute(
        actor=contract.freelancer, milestone_id=milestone.pk, reason="payment", description="Pay."
    )
    escalate_dispute(actor=contract.freelancer, dispute_id=dispute.pk, note="No answer.")
    pending_offer = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=2_000
    )
    before = money(contract, milestone)
    resolve_dispute(
        actor=arbiter,
        dispute_id=dispute.pk,
        freelancer_share_bps=bps,
        rationale="The delivery matches most of the brief.",
    )
    dispute.refresh_from_db()
    assert dispute.status == Status.DECIDED  # open to appeal: nothing moves yet
    assert money(contract, milestone) == before
    assert lapse_appeal_window(dispute) == 1
    gross = 100_000 * bps // 10_000
    fee = gross * contract.fee_bps // 10_000
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["freelancer_pending"] == before["freelancer_pending"] + gross - fee
    if bps:  # the rest of a partial split goes back to the client's balance
        assert after["client"] == before["client"] + 100_000 - gross
    else:  # nothing to the freelancer: a full refund to the card that paid
        assert after["client"] == before["client"]
        assert Refund.objects.get(milestone=milestone).amount == 100_000
    assert after["fees"] == before["fees"] + fee
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    pending_offer.refresh_from_db()
    assert dispute.status == Status.RESOLVED
    assert (dispute.freelancer_share_bps, dispute.resolved_by) == (bps, arbiter)
    assert dispute.rationale == "The delivery matches most of the brief."
    assert milestone.status == Milestone.Status.RESOLVED
    assert pending_offer.status == SettlementOffer.Status.WITHDRAWN
    assert kinds(dispute) == ["opened", "escalated", "assigned", "offer", "decided", "resolved"]
    assert (dispute.arbiter, dispute.decided_by) == (arbiter, arbiter)
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE  # the second milestone is still a draft


def test_evidence_files_are_stored_with_their_sha256(tmp_media: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    content = b"Call log, 3 May: the freelancer promised two more chapters.\n"
    rows = add_evidence(
        actor=contract.client,
        dispute_id=dispute.pk,
        text="See the call log.",
        files=[SimpleUploadedFile("call-log.txt", content, content_type="text/plain")],
    )
    assert [row.text for row in rows] == ["See the call log.", ""]
    stored = rows[1]
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert (stored.name, stored.size, stored.content_type) == (
        "call-log.txt",
        len(content),
        "text/plain",
    )
    assert stored.file.name.startswith("evidence/")
    with default_storage.open(stored.file.name) as handle:
        assert handle.read() == content
    event = dispute.events.get(kind="evidence")
    assert stored.sha256 in event.text


def test_the_timeline_is_append_only() -> None:
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="other", description="Hm."
    )
    event = DisputeEvent.objects.get(dispute=dispute)
    event.text = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert DisputeEvent.objects.get(pk=event.pk).text == "Hm."


def test_the_database_refuses_a_second_open_dispute_on_a_milestone() -> None:
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="other", description="One."
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(
            milestone=milestone,
            opened_by=contract.freelancer,
            reason="other",
            description="Two.",
            amount_in_dispute=1,
            response_due_at=dispute.response_due_at,
        )


def test_every_step_writes_the_audit_log_with_before_and_after() -> None:
    from smartpay.models import AuditEntry

    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    respond_to_dispute(actor=contract.freelancer, dispute_id=dispute.pk, text="It is fine.")
    add_evidence(actor=contract.client, dispute_id=dispute.pk, text="See the brief.")
    offer = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=3_000
    )
    accept_settlement(actor=contract.freelancer, offer_id=offer.pk)
    entries = AuditEntry.objects.order_by("pk")
    on_dispute = entries.filter(target_type="disputes.dispute", target_id=str(dispute.pk))
    assert list(on_dispute.values_list("action", flat=True)) == [
        "dispute.opened",
        "dispute.responded",
        "dispute.evidence_added",
        "dispute.offer_accepted",
    ]
    responded = on_dispute.get(action="dispute.responded")
    assert (responded.before or {}).get("status") == "open"
    assert (responded.after or {}).get("status") == "responded"
    accepted = on_dispute.get(action="dispute.offer_accepted")
    assert accepted.actor == contract.freelancer
    assert (accepted.after or {}).get("status") == "settled"
    made = entries.get(action="dispute.offer_made")
    assert made.target_id == str(offer.pk)
    assert (made.after or {}).get("freelancer_share_bps") == 3_000
