"""The audit trail a whole journey leaves: each step through the services adds its own
entries, in order, with the actor who took the step (None for the platform's own moves)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from escrow.models import Payout, RefundRequest
from escrow.services import payouts, refunds, release
from marketplace.models import Milestone
from marketplace.services import contracts, jobs, milestones, profiles, proposals
from smartpay.models import AuditEntry
from tests.escrow.money import card_contract, enable_payouts, first_milestone, fund, pay_by_card
from tests.factories import any_category, verified_freelancer, verified_user

pytestmark = pytest.mark.django_db


def trail(since: int = 0) -> list[tuple[str, str]]:
    """(action, actor) of every entry after ``since``, oldest first."""
    rows = AuditEntry.objects.filter(pk__gt=since).order_by("pk")
    return [(entry.action, entry.actor_label) for entry in rows]


def mark() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_a_card_journey_from_job_to_release_leaves_one_entry_per_step():
    client = verified_user(is_client=True)
    freelancer = verified_freelancer()
    job = jobs.create_job(
        actor=client,
        title="Audit trail",
        description="Every step on record.",
        category=any_category(),
        budget=200_000,
        currency="usd",
    )
    jobs.publish_job(actor=client, job_id=job.pk)
    proposal = proposals.submit_proposal(
        actor=freelancer,
        job_id=job.pk,
        cover_letter="I keep logs.",
        currency="usd",
        milestones=[proposals.PlannedMilestone("Only milestone", 200_000)],
    )
    proposals.shortlist_proposal(actor=client, proposal_id=proposal.pk)
    contract = contracts.offer_contract(actor=client, proposal_id=proposal.pk)
    contracts.accept_offer(actor=freelancer, contract_id=contract.pk)
    milestone = first_milestone(contract)
    pay_by_card([milestone])
    milestones.submit_milestone(actor=freelancer, milestone_id=milestone.pk, message="v1")
    milestones.request_revision(actor=client, milestone_id=milestone.pk, reason="Add tests.")
    milestones.submit_milestone(actor=freelancer, milestone_id=milestone.pk, message="v2")
    release.approve_milestone(actor=client, milestone_id=milestone.pk)

    c, f = client.email, freelancer.email
    assert trail() == [
        ("job.created", c),
        ("job.published", c),
        ("proposal.submitted", f),
        ("proposal.shortlisted", c),
        ("contract.offered", c),
        ("contract.accepted", f),
        ("funding.started", c),
        ("milestone.funded", c),  # the client's card payment, confirmed by the webhook
        ("funding.succeeded", "system"),
        ("milestone.submitted", f),
        ("milestone.revision_requested", c),
        ("milestone.submitted", f),
        ("milestone.released", c),
        ("contract.completed", "system"),  # its last milestone is final
    ]
    revision = AuditEntry.objects.get(action="milestone.revision_requested")
    assert revision.before is not None
    assert revision.after is not None
    assert (revision.before["status"], revision.after["status"]) == ("submitted", "funded")
    assert revision.note == "Add tests."


def test_a_refund_request_and_its_refund_are_on_record():
    contract = card_contract((100_000, 150_000))
    milestone = fund(first_milestone(contract))
    since = mark()
    asked = refunds.request_refund(
        actor=contract.client, milestone_id=milestone.pk, reason="Plans changed."
    )
    refunds.refund_milestone(actor=contract.freelancer, milestone_id=milestone.pk)
    c, f = contract.client.email, contract.freelancer.email
    actions = trail(since)
    assert actions[:3] == [
        ("refund_request.opened", c),
        ("refund_request.accepted", f),
        ("milestone.refunded", f),
    ]
    # The card refund itself is sent after commit; its outcome has its own entries.
    assert {action for action, _ in actions[3:]} <= {"refund.sent", "refund.succeeded"}
    asked.refresh_from_db()
    assert asked.status == RefundRequest.Status.ACCEPTED
    refunded = AuditEntry.objects.get(action="milestone.refunded")
    assert refunded.after is not None
    assert refunded.after["status"] == Milestone.Status.REFUNDED
    assert refunded.after["refund"]["amount"] == 100_000


def test_lapsed_refund_requests_are_refunded_by_the_platform():
    contract = card_contract((100_000, 150_000))
    milestone = fund(first_milestone(contract))
    refunds.request_refund(actor=contract.client, milestone_id=milestone.pk, reason="Late.")
    since = mark()
    later = timezone.now() + timedelta(days=30)
    assert refunds.accept_lapsed_refund_requests(now=later) == 1
    assert trail(since)[:2] == [
        ("refund_request.accepted", "system"),
        ("milestone.refunded", "system"),
    ]


def test_a_payout_request_and_its_transfer_are_on_record():
    contract = card_contract((100_000, 150_000))
    milestone = fund(first_milestone(contract))
    milestones.submit_milestone(
        actor=contract.freelancer, milestone_id=milestone.pk, message="Done."
    )
    release.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    assert release.make_releases_available(now=timezone.now() + timedelta(days=30)) == 1
    enable_payouts(contract.freelancer)
    since = mark()
    payout = payouts.request_payout(
        actor=contract.freelancer, currency="usd", amount=None, request_key="all"
    )
    payouts.send_payout(payout_id=payout.pk)
    f = contract.freelancer.email
    assert trail(since) == [("payout.requested", f), ("payout.paid", "system")]
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert AuditEntry.objects.filter(action="release.available").count() == 1
    assert AuditEntry.objects.filter(action="payout_account.connected").count() == 1


def test_a_profile_edit_records_the_fields_it_changed():
    freelancer = verified_freelancer()
    profiles.update_profile(actor=freelancer, headline="Before")
    since = mark()
    profiles.update_profile(actor=freelancer, headline="After", hourly_rate=9_000)
    [entry] = AuditEntry.objects.filter(pk__gt=since)
    assert entry.action == "profile.updated"
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["headline"], entry.after["headline"]) == ("Before", "After")
    assert (entry.before["hourly_rate"], entry.after["hourly_rate"]) == (None, 9_000)
