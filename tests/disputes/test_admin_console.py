"""The admin as the arbiter console, through the Django test client with MFA sessions:
the queue and its filters, the case page, and the resolve, confirm and assign forms,
which act only through the dispute services."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from disputes.models import Dispute, DisputeEvent
from disputes.services import (
    add_evidence,
    appeal_decision,
    assign_arbiter,
    escalate_dispute,
    open_dispute,
    resolve_dispute,
)
from marketplace.models import ARBITERS_GROUP, Milestone, Submission, User
from marketplace.services import milestones as milestone_services
from smartpay.models import AuditEntry
from tests.disputes.helpers import funded_milestone, make_arbiter, money
from tests.factories import make_contract, make_job, make_proposal, verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db
Status = Dispute.Status
QUEUE = reverse("admin:disputes_dispute_changelist")
REPORT = b"The final report, chapters one to five."


def logged_in(user: User) -> Client:
    return signed_in_with_mfa(user)


def case_url(dispute: Dispute, view: str = "change") -> str:
    if view == "change":
        return reverse("admin:disputes_dispute_change", args=[dispute.pk])
    return reverse(f"admin:disputes_dispute_{view}", args=[dispute.pk])


def shown(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(client: Client, query: str = "") -> set[int]:
    response = client.get(QUEUE + query)
    assert response.status_code == 200
    return {dispute.pk for dispute in response.context["cl"].result_list}


def disputed(amounts: tuple[int, ...] = (100_000,), amount: int | None = None) -> Dispute:
    """A card milestone the client disputes (open, waiting for the freelancer)."""
    contract, milestone = funded_milestone(amounts)
    return open_dispute(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason="quality",
        description="Two chapters are missing.",
        amount=amount,
    )


def escalated(amounts: tuple[int, ...] = (100_000,), amount: int | None = None) -> Dispute:
    dispute = disputed(amounts, amount)
    return escalate_dispute(actor=dispute.milestone.contract.client, dispute_id=dispute.pk)


def chain_case(arbiter: User | None = None) -> Dispute:
    """An escalated case on an ETH contract, stored as chain sync would leave it."""
    contract = make_contract(make_proposal(make_job(currency="eth"), amounts=(10**18,)))
    milestone = contract.milestones.get()
    Milestone.objects.filter(pk=milestone.pk).update(status=Milestone.Status.DISPUTED)
    now = timezone.now()
    return Dispute.objects.create(
        milestone=milestone,
        opened_by=contract.client,
        reason="quality",
        description="Not what we agreed.",
        amount_in_dispute=10**18,
        status=Status.ESCALATED,
        response_due_at=now + timedelta(days=5),
        arbiter=arbiter,
        assigned_at=now if arbiter else None,
        decision_due_at=now + timedelta(days=7) if arbiter else None,
    )


def assign(dispute: Dispute, arbiter: User) -> Dispute:
    """Give the case to ``arbiter`` as staff would (through the service)."""
    return assign_arbiter(actor=None, dispute_id=dispute.pk, arbiter_id=arbiter.pk)


def worked_with(user: User, party: User) -> None:
    """``user`` was the freelancer on another contract of ``party``: a conflict."""
    make_contract(make_proposal(make_job(party), user))


@pytest.fixture
def ops() -> User:
    return verified_user(is_staff=True, is_superuser=True, is_client=False)


@pytest.fixture
def ops_client(ops: User) -> Client:
    return logged_in(ops)


# --- the queue ----------------------------------------------------------------------


def test_queue_filters_pick_the_right_cases(ops_client: Client) -> None:
    first, second = make_arbiter(), make_arbiter()
    mine = assign(escalated(), first)  # $1,000.00: large
    theirs = assign(escalated((40_000,)), second)  # $400.00: medium
    late = disputed((2_000_000,))  # $20,000.00, open, past its response deadline
    Dispute.objects.filter(pk=late.pk).update(response_due_at=timezone.now() - timedelta(hours=1))
    on_chain = chain_case()
    everyone = {mine.pk, theirs.pk, late.pk, on_chain.pk}

    assert listed(ops_client) == everyone
    assert listed(ops_client, "?overdue=yes") == {late.pk}
    assert listed(ops_client, "?overdue=no") == everyone - {late.pk}
    assert listed(ops_client, "?rail=chain") == {on_chain.pk}
    assert listed(ops_client, "?rail=card") == everyone - {on_chain.pk}
    assert listed(ops_client, "?amount=medium") == {theirs.pk}
    assert listed(ops_client, "?amount=large") == {mine.pk, on_chain.pk}  # 1 ETH is large
    assert listed(ops_client, "?amount=very_large") == {late.pk}
    assert listed(ops_client, "?status__exact=open") == {late.pk}
    assert listed(ops_client, "?mine=unassigned") == {late.pk, on_chain.pk}
    assert listed(logged_in(first), "?mine=mine") == {mine.pk}
    assert listed(ops_client, "?_facets=True&rail=card&amount=large") == {mine.pk}


def test_queue_shows_status_in_words_amount_arbiter_and_deadline(ops_client: Client) -> None:
    arbiter = make_arbiter()
    dispute = assign(escalated(), arbiter)
    Dispute.objects.filter(pk=dispute.pk).update(
        decision_due_at=timezone.now() - timedelta(minutes=5)
    )
    html = ops_client.get(QUEUE).content.decode()
    assert "With an arbiter" in html
    assert "$1,000.00" in html
    assert arbiter.email in html
    assert "Decision due" in html
    assert "overdue" in html
    assert "Milestone 1" in html


def test_the_queue_takes_the_same_queries_for_one_case_or_many() -> None:
    arbiter = make_arbiter()
    assign(escalated(), arbiter)
    browser = logged_in(arbiter)
    with CaptureQueriesContext(connection) as one:
        assert len(browser.get(QUEUE).context["cl"].result_list) == 1
    for _ in range(4):
        assign(escalated(), arbiter)
    with CaptureQueriesContext(connection) as five:
        assert len(browser.get(QUEUE).context["cl"].result_list) == 5
    assert len(five) == len(one)


def test_an_arbiter_sees_only_their_queue_and_no_other_admin(ops_client: Client) -> None:
    first, second = make_arbiter(), make_arbiter()
    mine = assign(escalated(), first)
    theirs = assign(escalated(), second)
    waiting = escalated()  # unassigned when escalated (first and second... have load)
    Dispute.objects.filter(pk=waiting.pk).update(arbiter=None, assigned_at=None)
    conflicted = escalated()
    Dispute.objects.filter(pk=conflicted.pk).update(arbiter=None, assigned_at=None)
    worked_with(first, conflicted.milestone.contract.client)
    browser = logged_in(first)

    assert listed(browser) == {mine.pk, waiting.pk}
    assert browser.get(case_url(mine)).status_code == 200
    assert browser.get(case_url(theirs)).status_code == 404
    assert browser.get(case_url(conflicted)).status_code == 404
    for name in ("escrow_ledgeraccount", "escrow_transfer", "escrow_payout", "marketplace_user"):
        assert browser.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
    index = browser.get(reverse("admin:index")).content.decode()
    assert "Ledger accounts" not in index
    assert "Held in escrow" not in index


def test_people_without_the_arbiter_role_or_mfa_never_see_a_case() -> None:
    dispute = escalated()
    contract = dispute.milestone.contract
    party = Client()
    party.force_login(contract.client)
    assert party.get(case_url(dispute)).status_code == 302
    staff = logged_in(verified_user(is_staff=True, is_client=False))  # no permissions
    assert staff.get(QUEUE).status_code == 403
    assert staff.get(case_url(dispute)).status_code == 404
    arbiter = make_arbiter()
    without_mfa = Client()
    without_mfa.force_login(arbiter)
    assert without_mfa.get(case_url(dispute)).status_code == 302


# --- the case page ------------------------------------------------------------------


def test_case_page_shows_digests_evidence_ledger_activity_and_timeline(
    ops_client: Client,
) -> None:
    contract, milestone = funded_milestone()
    milestone_services.submit_milestone(
        actor=contract.freelancer,
        milestone_id=milestone.pk,
        message="Here it is.",
        files=[SimpleUploadedFile("report.txt", REPORT, content_type="text/plain")],
    )
    dispute = open_dispute(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason="quality",
        description="Two chapters are missing.",
    )
    log_lines = b"12:00 client: where are chapters four and five?\n"
    add_evidence(
        actor=contract.client,
        dispute_id=dispute.pk,
        text="See the table of contents.",
        files=[SimpleUploadedFile("chat-log.txt", log_lines, content_type="text/plain")],
    )
    evidence = dispute.evidence.exclude(file="").get()

    response = ops_client.get(case_url(dispute))

    assert response.status_code == 200
    html = response.content.decode()
    assert contract.client.email in html
    assert contract.freelancer.email in html
    assert "Card (Stripe)" in html
    assert "USD" in html
    assert "In dispute — funds locked" in html
    assert hashlib.sha256(REPORT).hexdigest() in html
    assert "report.txt" in html
    assert evidence.sha256 in html
    assert evidence.sha256 == hashlib.sha256(evidence.file.open("rb").read()).hexdigest()
    assert reverse("dispute-evidence-file", args=[dispute.pk, evidence.pk]) in html
    assert "See the table of contents." in html
    download = ops_client.get(reverse("dispute-evidence-file", args=[dispute.pk, evidence.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == log_lines  # type: ignore[attr-defined]
    funding_line = response.context["ledger"][0]
    assert funding_line.direction == "in"
    assert funding_line.transfer.idempotency_key in html
    assert "$1,000.00" in html
    for kind in ("Opened", "Evidence added"):
        assert kind in html
    assert "no chat between the parties yet" in html
    assert contract.activity.filter(verb="dispute_opened").get().summary in html
    audit = response.context["audit_link"]
    assert audit.replace("&", "&amp;") in html
    entries = ops_client.get(audit).context["cl"].result_list
    assert {entry.action for entry in entries} >= {"dispute.opened", "dispute.evidence_added"}
    assert {entry.target_id for entry in entries} == {str(dispute.pk)}


# --- the resolve form ---------------------------------------------------------------


def test_resolve_form_decides_through_the_service_and_moves_no_money_yet(
    settings: Any,
) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {}
    arbiter = make_arbiter()
    dispute = assign(escalated(), arbiter)
    contract, milestone = dispute.milestone.contract, dispute.milestone
    before = money(contract, milestone)
    browser = logged_in(arbiter)
    page = browser.get(case_url(dispute)).content.decode()
    assert 'type="range"' in page
    assert "data-split" in page
    assert "At 50 %: the freelancer gets $450.00 ($500.00 less the $50.00 fee)" in page

    response = browser.post(
        case_url(dispute, "resolve"),
        {"freelancer_share_bps": "6000", "rationale": "Most of the work was delivered."},
    )

    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == Status.DECIDED
    assert (dispute.freelancer_share_bps, dispute.decided_by) == (6000, arbiter)
    assert money(contract, milestone) == before  # open to appeal: nothing moves yet
    assert AuditEntry.objects.filter(action__startswith="dispute.", actor_id=arbiter.pk).exists()
    follow = browser.get(case_url(dispute)).content.decode()
    assert "Decided — open to appeal" in follow
    assert "Most of the work was delivered." in follow


def test_resolve_form_in_the_appeal_round_executes_the_split(settings: Any) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {}
    first, second = make_arbiter(), make_arbiter()
    dispute = assign(escalated(), first)
    resolve_dispute(
        actor=first, dispute_id=dispute.pk, freelancer_share_bps=10_000, rationale="All done."
    )
    contract, milestone = dispute.milestone.contract, dispute.milestone
    appeal_decision(actor=contract.client, dispute_id=dispute.pk, reason="Not all of it.")
    dispute.refresh_from_db()
    assert dispute.arbiter == second
    before = money(contract, milestone)

    response = logged_in(second).post(
        case_url(dispute, "resolve"),
        {"freelancer_share_bps": "5000", "rationale": "Half was delivered."},
    )

    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVED
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["freelancer_pending"] - before["freelancer_pending"] == 45_000
    assert after["fees"] - before["fees"] == 5_000
    assert after["client"] - before["client"] == 50_000


@pytest.mark.parametrize(
    ("posted", "said"),
    [
        ({"freelancer_share_bps": "12000", "rationale": "Why not."}, "basis points, 0 to 10000"),
        ({"freelancer_share_bps": "-1", "rationale": "Why not."}, "basis points, 0 to 10000"),
        ({"freelancer_share_bps": "5000", "rationale": "   "}, "Explain the decision"),
        ({"freelancer_share_bps": "half", "rationale": "Why not."}, "whole number from 0"),
    ],
)
def test_a_bad_split_or_rationale_shows_an_error_and_writes_nothing(
    posted: dict[str, str], said: str
) -> None:
    arbiter = make_arbiter()
    dispute = assign(escalated(), arbiter)
    contract, milestone = dispute.milestone.contract, dispute.milestone
    before = (money(contract, milestone), dispute.events.count(), AuditEntry.objects.count())

    response = logged_in(arbiter).post(case_url(dispute, "resolve"), posted)

    assert response.status_code == 200
    assert any(said in message for message in shown(response))
    dispute.refresh_from_db()
    assert dispute.status == Status.ESCALATED
    assert dispute.freelancer_share_bps is None
    after = (money(contract, milestone), dispute.events.count(), AuditEntry.objects.count())
    assert after == before


def test_a_party_may_not_decide_even_with_the_admin_open() -> None:
    dispute = escalated()
    contract = dispute.milestone.contract
    User.objects.filter(pk=contract.client_id).update(is_staff=True, is_superuser=True)
    before = (money(contract, dispute.milestone), dispute.events.count())

    response = logged_in(User.objects.get(pk=contract.client_id)).post(
        case_url(dispute, "resolve"), {"freelancer_share_bps": "0", "rationale": "Mine."}
    )

    assert response.status_code == 200
    assert any("A party to the contract may not decide" in m for m in shown(response))
    dispute.refresh_from_db()
    assert dispute.status == Status.ESCALATED
    assert (money(contract, dispute.milestone), dispute.events.count()) == before


def test_another_arbiter_posting_a_decision_is_refused() -> None:
    first, second = make_arbiter(), make_arbiter()
    dispute = assign(escalated(), first)
    Dispute.objects.filter(pk=dispute.pk).update(arbiter=first)
    # The second arbiter cannot reach the case at all; ops staff who are arbiters may,
    # and the service refuses them because the case is someone else's.
    assert logged_in(second).post(case_url(dispute, "resolve"), {}).status_code == 404
    boss = verified_user(is_staff=True, is_superuser=True, is_client=False)
    boss.groups.add(Group.objects.get(name=ARBITERS_GROUP))
    response = logged_in(boss).post(
        case_url(dispute, "resolve"), {"freelancer_share_bps": "5000", "rationale": "Mine now."}
    )
    assert any("Another arbiter has this case." in m for m in shown(response))
    dispute.refresh_from_db()
    assert dispute.status == Status.ESCALATED
    assert dispute.decided_by is None


# --- second arbiter -----------------------------------------------------------------


def test_second_arbiter_confirms_through_the_form_and_the_first_may_not(
    settings: Any,
) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 50_000}
    first, second = make_arbiter(), make_arbiter()
    dispute = assign(escalated(), first)
    first_browser = logged_in(first)
    first_browser.post(
        case_url(dispute, "resolve"),
        {"freelancer_share_bps": "7000", "rationale": "Mostly delivered."},
    )
    dispute.refresh_from_db()
    assert dispute.status == Status.CONFIRMING

    own = first_browser.post(case_url(dispute, "confirm"), {"agree": "yes"})
    assert any("not the arbiter who made it" in m for m in shown(own))
    dispute.refresh_from_db()
    assert dispute.status == Status.CONFIRMING
    assert dispute.second_arbiter is None

    second_browser = logged_in(second)
    page = second_browser.get(case_url(dispute)).content.decode()
    assert "Confirm as the second arbiter" in page
    refused = second_browser.post(case_url(dispute, "confirm"), {"agree": "no", "note": ""})
    assert any("Say why you disagree." in m for m in shown(refused))
    dispute.refresh_from_db()
    assert dispute.status == Status.CONFIRMING

    response = second_browser.post(case_url(dispute, "confirm"), {"agree": "yes"})
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == Status.DECIDED
    assert dispute.second_arbiter == second


# --- assignment ---------------------------------------------------------------------


def test_staff_assign_an_arbiter_and_see_why_others_may_not(ops_client: Client) -> None:
    dispute = escalated()
    Dispute.objects.filter(pk=dispute.pk).update(arbiter=None, assigned_at=None)
    contract = dispute.milestone.contract
    eligible, conflicted = make_arbiter(), make_arbiter()
    worked_with(conflicted, contract.client)

    page = ops_client.get(case_url(dispute)).content.decode()
    assert f'<option value="{eligible.pk}">' in page
    assert f'<option value="{conflicted.pk}">' not in page
    assert "has worked with" in page  # the conflict, in words

    before_events = dispute.events.count()
    refused = ops_client.post(case_url(dispute, "assign"), {"arbiter": str(conflicted.pk)})
    assert refused.status_code == 200
    assert any("has worked with" in m for m in shown(refused))
    dispute.refresh_from_db()
    assert dispute.arbiter is None
    assert dispute.events.count() == before_events

    response = ops_client.post(case_url(dispute, "assign"), {"arbiter": str(eligible.pk)})
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.arbiter == eligible
    assert dispute.decision_due_at is not None
    assert dispute.events.filter(kind=DisputeEvent.Kind.ASSIGNED).exists()


def test_arbiters_who_do_not_manage_disputes_get_no_assign_form() -> None:
    arbiter = make_arbiter()
    dispute = escalated()
    Dispute.objects.filter(pk=dispute.pk).update(arbiter=None, assigned_at=None)
    browser = logged_in(arbiter)
    assert "Assign an arbiter" not in browser.get(case_url(dispute)).content.decode()
    response = browser.post(case_url(dispute, "assign"), {"arbiter": str(arbiter.pk)})
    assert any("Only staff who manage disputes" in m for m in shown(response))
    dispute.refresh_from_db()
    assert dispute.arbiter is None


def test_staff_with_the_view_permission_see_every_case_read_only() -> None:
    viewer = verified_user(is_staff=True, is_client=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_dispute"))
    dispute = escalated()
    browser = logged_in(User.objects.get(pk=viewer.pk))
    assert listed(browser) == {dispute.pk}
    page = browser.get(case_url(dispute)).content.decode()
    assert "Decide with this split" not in page
    assert "Assign an arbiter" not in page
    assert browser.get(reverse("admin:disputes_dispute_add")).status_code == 403


def test_case_page_of_a_chain_milestone_shows_the_anchored_digest(ops_client: Client) -> None:
    dispute = chain_case()
    contract = dispute.milestone.contract
    manifest = hashlib.sha256(b"manifest").hexdigest()
    Submission.objects.create(
        milestone=dispute.milestone,
        number=1,
        message="Delivered.",
        submitted_by=contract.freelancer,
        digest=manifest,
        anchored_block=42,
        anchored_tx="0x" + "cd" * 32,
    )

    html = ops_client.get(case_url(dispute)).content.decode()

    assert "Chain (Ethereum escrow)" in html
    assert f"Manifest SHA-256: <code>{manifest}</code>" in html
    assert "anchored on chain in block 42" in html
    assert "0x" + "cd" * 32 in html
    assert "Ξ1.000000" in html
