"""Arbitration on the card rail: assignment by load, conflicts, the decision deadline,
a decision open to appeal that executes when the window lapses, second-arbiter
confirmation, and the audit log of each step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from disputes import selectors
from disputes.errors import (
    ArbiterConflict,
    DisputeClosed,
    InvalidShare,
    NoArbiterAvailable,
    NotAssigned,
    NotStaff,
    OwnDecision,
    PartyCannotResolve,
)
from disputes.models import Dispute, DisputeEvent
from disputes.services import (
    add_evidence,
    assign_arbiter,
    confirm_decision,
    escalate_dispute,
    execute_due_decisions,
    open_dispute,
    resolve_dispute,
)
from escrow.models import Release, Transfer
from marketplace.models import Milestone, User
from smartpay.errors import DomainError
from smartpay.models import AuditEntry
from tests.disputes.helpers import (
    decide,
    funded_milestone,
    lapse_appeal_window,
    make_arbiter,
    money,
    opened_dispute,
    worked_together,
)
from tests.escrow.money import submit
from tests.factories import verified_user

pytestmark = pytest.mark.django_db
Status = Dispute.Status


def kinds(dispute: Dispute) -> list[str]:
    return list(dispute.events.values_list("kind", flat=True))


def actions(dispute: Dispute) -> list[str]:
    entries = AuditEntry.objects.filter(target_type="disputes.dispute", target_id=str(dispute.pk))
    return list(entries.order_by("pk").values_list("action", flat=True))


def written() -> tuple[object, ...]:
    """Everything a refused arbitration step must leave as it was."""
    return (
        DisputeEvent.objects.count(),
        AuditEntry.objects.count(),
        Transfer.objects.count(),
        *Dispute.objects.order_by("pk").values_list(
            "status", "arbiter_id", "decided_by_id", "second_arbiter_id", "freelancer_share_bps"
        ),
        *Milestone.objects.order_by("pk").values_list("status", flat=True),
    )


@pytest.fixture
def unchanged() -> Callable[[type[DomainError], Callable[[], object]], DomainError]:
    def check(error: type[DomainError], call: Callable[[], object]) -> DomainError:
        before = written()
        with pytest.raises(error) as raised:
            call()
        assert written() == before
        return raised.value

    return check


def manager() -> User:
    """Ops staff with the change permission on disputes (not an arbiter)."""
    from django.contrib.auth.models import Permission

    user = verified_user(is_staff=True, is_client=False)
    user.user_permissions.add(Permission.objects.get(codename="change_dispute"))
    return User.objects.get(pk=user.pk)


# --- the full first round ------------------------------------------------------------------------


def test_an_escalated_case_is_decided_then_executed_when_the_appeal_window_lapses(
    settings: Any, django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    settings.DISPUTE_DECISION_DAYS = 7
    settings.DISPUTE_APPEAL_DAYS = 3
    contract, milestone = funded_milestone()
    submit(milestone)
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    # Escalation gave the case to the only arbiter, with a decision deadline.
    assert dispute.status == Status.ESCALATED
    assert dispute.arbiter == arbiter
    assert dispute.decision_due_at is not None
    assert dispute.assigned_at is not None
    assert dispute.decision_due_at - dispute.assigned_at == timedelta(days=7)
    before = money(contract, milestone)

    with django_capture_on_commit_callbacks(execute=True):
        decide(arbiter, dispute, 6_000, "Two of the five chapters are missing.")
    assert dispute.status == Status.DECIDED
    assert (dispute.decided_by, dispute.freelancer_share_bps) == (arbiter, 6_000)
    assert dispute.decided_at is not None
    assert dispute.appeal_due_at is not None
    assert abs(dispute.appeal_due_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)
    assert money(contract, milestone) == before  # nothing moves while it is open to appeal
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DISPUTED
    # Both parties get the decision with its rationale.
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [contract.client.email, contract.freelancer.email]
    )
    for message in mail.outbox:
        assert "Two of the five chapters are missing." in message.body
        assert "60 % to the freelancer" in message.body
        assert "appeal" in message.body
        assert f"/disputes/{dispute.pk}/" in message.body  # the link opens the case page

    assert execute_due_decisions() == 0  # the window is still open
    assert lapse_appeal_window(dispute) == 1
    fee = 60_000 * contract.fee_bps // 10_000
    assert money(contract, milestone) == {
        "client": before["client"] + 40_000,
        "freelancer_pending": before["freelancer_pending"] + 60_000 - fee,
        "escrow": 0,
        "fees": before["fees"] + fee,
        "transfers": before["transfers"] + 3,
    }
    release = Release.objects.get(milestone=milestone)
    assert (release.amount, release.fee, release.returned_amount) == (60_000, fee, 40_000)
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    assert dispute.status == Status.RESOLVED
    assert dispute.resolved_by == arbiter
    assert dispute.resolved_at is not None
    assert milestone.status == Milestone.Status.RESOLVED
    assert kinds(dispute) == ["opened", "escalated", "assigned", "decided", "resolved"]
    assert actions(dispute) == [
        "dispute.opened",
        "dispute.escalated",
        "dispute.assigned",
        "dispute.decided",
        "dispute.executed",
    ]
    executed = AuditEntry.objects.get(action="dispute.executed", target_id=str(dispute.pk))
    assert executed.actor is None
    assert (executed.before or {}).get("status") == "decided"
    assert (executed.after or {}).get("status") == "resolved"

    # Replay: a second run finds nothing due and moves nothing.
    after = money(contract, milestone)
    assert execute_due_decisions() == 0
    assert lapse_appeal_window(dispute) == 0
    assert money(contract, milestone) == after


def test_the_periodic_task_executes_lapsed_decisions() -> None:
    from disputes import tasks

    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    decide(arbiter, dispute, 10_000)
    Dispute.objects.filter(pk=dispute.pk).update(appeal_due_at=timezone.now())
    counts = tasks.settle()
    assert counts is not None
    assert counts["decisions executed"] == 1
    assert Dispute.objects.get(pk=dispute.pk).status == Status.RESOLVED


def test_evidence_and_offers_wait_while_a_decision_is_open_to_appeal(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    decide(arbiter, dispute)
    error = unchanged(
        DisputeClosed,
        lambda: add_evidence(actor=contract.client, dispute_id=dispute.pk, text="One more."),
    )
    assert error.status_code == 409
    # Another decision on a decided case is refused too.
    unchanged(DisputeClosed, lambda: decide(arbiter, dispute, 1_000))


# --- assignment --------------------------------------------------------------------------------


def test_round_robin_gives_the_case_to_the_least_loaded_unconflicted_arbiter() -> None:
    busy, light, idle, conflicted = (make_arbiter() for _ in range(4))
    # busy has two open cases, light one; idle none but worked with the next client.
    for arbiter, cases in ((busy, 2), (light, 1)):
        for _ in range(cases):
            other_contract, other_milestone = funded_milestone()
            other = opened_dispute(other_contract, other_milestone, escalate=False)
            escalate_dispute(actor=other_contract.client, dispute_id=other.pk)
            assign_arbiter(actor=None, dispute_id=other.pk, arbiter_id=arbiter.pk)
    contract, milestone = funded_milestone()
    worked_together(contract.client, conflicted)
    dispute = opened_dispute(contract, milestone)
    assert dispute.arbiter == idle

    # The next case has no conflict with anyone: the one arbiter still without a case.
    second_contract, second_milestone = funded_milestone()
    second = opened_dispute(second_contract, second_milestone)
    assert second.arbiter == conflicted
    # Now light, idle and conflicted carry one each: light waited longest since theirs.
    third_contract, third_milestone = funded_milestone()
    third = opened_dispute(third_contract, third_milestone)
    assert third.arbiter == light
    loads = {user.pk: user.load for user in selectors.arbiters_by_load()}  # type: ignore[attr-defined]
    assert loads == {busy.pk: 2, light.pk: 2, idle.pk: 1, conflicted.pk: 1}


def test_ties_in_load_go_to_the_arbiter_longest_without_a_case() -> None:
    first, second = make_arbiter(), make_arbiter()
    earlier_contract, earlier_milestone = funded_milestone()
    earlier = opened_dispute(earlier_contract, earlier_milestone)
    assert earlier.arbiter == first  # neither had a case: the lower pk
    decide(first, earlier)
    lapse_appeal_window(earlier)  # resolved: first has no load again
    contract, milestone = funded_milestone()
    dispute = opened_dispute(contract, milestone)
    assert dispute.arbiter == second  # both at zero; second was never assigned


def test_without_an_eligible_arbiter_the_case_waits_unassigned(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    conflicted = make_arbiter()
    worked_together(conflicted, contract.freelancer)
    dispute = opened_dispute(contract, milestone)
    assert dispute.status == Status.ESCALATED
    assert dispute.arbiter is None
    unchanged(
        NoArbiterAvailable,
        lambda: assign_arbiter(actor=manager(), dispute_id=dispute.pk, arbiter_id=None),
    )


def test_staff_assign_a_chosen_arbiter_and_the_deadline_restarts() -> None:
    contract, milestone = funded_milestone()
    first, chosen = make_arbiter(), make_arbiter()
    dispute = opened_dispute(contract, milestone)
    assert dispute.arbiter == first
    ops = manager()
    assign_arbiter(actor=ops, dispute_id=dispute.pk, arbiter_id=chosen.pk)
    dispute.refresh_from_db()
    assert dispute.arbiter == chosen
    entry = AuditEntry.objects.filter(action="dispute.assigned").order_by("-pk").first()
    assert entry is not None
    assert entry.actor == ops
    assert (entry.before or {}).get("arbiter") == first.pk
    assert (entry.after or {}).get("arbiter") == chosen.pk
    # The old arbiter may no longer decide.
    with pytest.raises(NotAssigned):
        decide(first, dispute)


def test_conflicted_arbiters_are_refused_with_409_and_nothing_written(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened_dispute(contract, milestone)  # no arbiter yet: unassigned
    worked_with_client, worked_with_freelancer = make_arbiter(), make_arbiter()
    worked_together(contract.client, worked_with_client)
    worked_together(worked_with_freelancer, contract.freelancer)
    ops = manager()
    for arbiter in (worked_with_client, worked_with_freelancer):
        error = unchanged(
            ArbiterConflict,
            lambda a=arbiter: assign_arbiter(actor=ops, dispute_id=dispute.pk, arbiter_id=a.pk),
        )
        assert (error.status_code, error.code) == (409, "arbiter_conflict")
        assert "worked with" in error.detail
        # Nor may they take the unassigned case by deciding it.
        unchanged(ArbiterConflict, lambda a=arbiter: decide(a, dispute))
    assert selectors.conflict_reason(worked_with_client, contract) is not None
    assert selectors.conflict_reason(make_arbiter(), contract) is None
    assert dispute.pk not in set(
        selectors.arbiter_queue(worked_with_client).values_list("pk", flat=True)
    )


def test_only_dispute_managers_assign(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened_dispute(contract, milestone)
    arbiter = make_arbiter()
    for actor in (contract.client, arbiter, verified_user(is_staff=True)):
        unchanged(
            NotStaff,
            lambda a=actor: assign_arbiter(actor=a, dispute_id=dispute.pk, arbiter_id=arbiter.pk),
        )
    not_arbiter = verified_user()
    error = unchanged(
        DomainError,
        lambda: assign_arbiter(actor=manager(), dispute_id=dispute.pk, arbiter_id=not_arbiter.pk),
    )
    assert error.code == "not_an_arbiter"


def test_only_the_assigned_arbiter_decides(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    assigned = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    other = make_arbiter()
    error = unchanged(NotAssigned, lambda: decide(other, dispute))
    assert (error.status_code, error.code) == (403, "not_assigned")
    for party in (contract.client, contract.freelancer):
        unchanged(PartyCannotResolve, lambda p=party: decide(p, dispute))
    for bps in (-1, 10_001, 50.5, True):
        unchanged(
            InvalidShare,
            lambda b=bps: resolve_dispute(
                actor=assigned, dispute_id=dispute.pk, freelancer_share_bps=b, rationale="R."
            ),
        )


def test_an_unassigned_arbiter_takes_an_open_case_by_deciding_it() -> None:
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="other", description="Hm."
    )
    arbiter = make_arbiter()
    decide(arbiter, dispute, 5_000)
    assert (dispute.arbiter, dispute.decided_by, dispute.status) == (
        arbiter,
        arbiter,
        Status.DECIDED,
    )
    assert kinds(dispute) == ["opened", "assigned", "decided"]


def test_the_overdue_selector_finds_late_decisions_and_unanswered_cases() -> None:
    arbiter = make_arbiter()
    late_contract, late_milestone = funded_milestone()
    late = opened_dispute(late_contract, late_milestone)
    fresh_contract, fresh_milestone = funded_milestone()
    fresh = opened_dispute(fresh_contract, fresh_milestone)
    silent_contract, silent_milestone = funded_milestone()
    silent = opened_dispute(silent_contract, silent_milestone, escalate=False)
    decided_contract, decided_milestone = funded_milestone()
    decided = opened_dispute(decided_contract, decided_milestone)
    decide(arbiter, decided)
    past = timezone.now() - timedelta(minutes=1)
    Dispute.objects.filter(pk__in=[late.pk, decided.pk]).update(decision_due_at=past)
    Dispute.objects.filter(pk=silent.pk).update(response_due_at=past)
    found = set(selectors.overdue(Dispute.objects.all()).values_list("pk", flat=True))
    assert found == {late.pk, silent.pk}
    assert fresh.pk not in found
    mine = selectors.overdue(selectors.arbiter_queue(arbiter).filter(arbiter=arbiter))
    assert set(mine.values_list("pk", flat=True)) == {late.pk}


# --- a second arbiter ----------------------------------------------------------------------------


@pytest.fixture
def large(settings: Any) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 50_000}


def test_a_large_decision_waits_for_a_second_arbiter_who_agrees(
    large: None, unchanged: Any
) -> None:
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    second = make_arbiter()
    before = money(contract, milestone)
    decide(first, dispute, 8_000, "Delivered, late.")
    assert dispute.status == Status.CONFIRMING
    assert dispute.appeal_due_at is None
    assert dispute.pk in set(selectors.arbiter_queue(second).values_list("pk", flat=True))
    error = unchanged(
        OwnDecision, lambda: confirm_decision(actor=first, dispute_id=dispute.pk, agree=True)
    )
    assert error.status_code == 403
    unchanged(
        PartyCannotResolve,
        lambda: confirm_decision(actor=contract.freelancer, dispute_id=dispute.pk, agree=True),
    )
    confirm_decision(actor=second, dispute_id=dispute.pk, agree=True)
    dispute.refresh_from_db()
    assert dispute.status == Status.DECIDED
    assert (dispute.decided_by, dispute.second_arbiter) == (first, second)
    assert dispute.appeal_due_at is not None
    assert money(contract, milestone) == before
    assert lapse_appeal_window(dispute) == 1
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["client"] == before["client"] + 20_000
    assert kinds(dispute)[-3:] == ["decided", "confirmed", "resolved"]
    assert "dispute.confirmed" in actions(dispute)


def test_a_second_arbiter_who_disagrees_sends_the_case_back(large: None, unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    second = make_arbiter()
    decide(first, dispute, 8_000, "Delivered, late.")
    error = unchanged(
        DomainError,
        lambda: confirm_decision(actor=second, dispute_id=dispute.pk, agree=False, note=" "),
    )
    assert error.code == "text_required"
    before = money(contract, milestone)
    confirm_decision(
        actor=second, dispute_id=dispute.pk, agree=False, note="The second delivery is unread."
    )
    dispute.refresh_from_db()
    assert dispute.status == Status.ESCALATED
    assert dispute.arbiter == first  # back to the first arbiter
    assert (dispute.freelancer_share_bps, dispute.decided_by, dispute.rationale) == (None, None, "")
    assert money(contract, milestone) == before
    refused = dispute.events.get(kind="confirmation_refused")
    assert "The second delivery is unread." in refused.text
    # A confirmation of a case no longer waiting for one is refused.
    unchanged(
        DomainError, lambda: confirm_decision(actor=second, dispute_id=dispute.pk, agree=True)
    )
    # The first arbiter decides again; a second arbiter confirms this time.
    decide(first, dispute, 5_000, "Half, after reading the second delivery.")
    assert dispute.status == Status.CONFIRMING
    confirm_decision(actor=second, dispute_id=dispute.pk, agree=True)
    dispute.refresh_from_db()
    assert dispute.status == Status.DECIDED
    assert dispute.freelancer_share_bps == 5_000


def test_a_conflicted_second_arbiter_is_refused(large: None, unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    decide(first, dispute)
    conflicted = make_arbiter()
    worked_together(contract.client, conflicted)
    unchanged(
        ArbiterConflict,
        lambda: confirm_decision(actor=conflicted, dispute_id=dispute.pk, agree=True),
    )


def test_the_threshold_is_per_currency_and_strictly_above(settings: Any) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 100_000}
    contract, milestone = funded_milestone()  # exactly 100 000: not above
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    decide(arbiter, dispute)
    assert dispute.status == Status.DECIDED
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"eur": 1}  # usd not listed: never
    other_contract, other_milestone = funded_milestone()
    other = opened_dispute(other_contract, other_milestone)
    assert other.arbiter is not None
    decide(other.arbiter, other)
    assert other.status == Status.DECIDED


# --- through the API ---------------------------------------------------------------------------


def api_for(user: User) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def post(user: User, dispute: Dispute, action: str, body: dict[str, Any] | None = None) -> Any:
    return api_for(user).post(f"/api/v1/disputes/{dispute.pk}/{action}/", body or {}, format="json")


def test_the_api_assigns_confirms_appeals_and_shows_the_arbitration(large: None) -> None:
    contract, milestone = funded_milestone()
    dispute = opened_dispute(contract, milestone)  # nobody to assign yet
    first, second, third = make_arbiter(), make_arbiter(), make_arbiter()
    stranger = verified_user()
    ops = manager()

    assert post(stranger, dispute, "assign").status_code == 404
    refused = post(contract.client, dispute, "assign", {"arbiter": first.pk})
    assert (refused.status_code, refused.json()["code"]) == (403, "staff_only")
    conflicted = make_arbiter()
    worked_together(contract.client, conflicted)
    clash = post(ops, dispute, "assign", {"arbiter": conflicted.pk})
    assert (clash.status_code, clash.json()["code"]) == (409, "arbiter_conflict")
    assigned = post(ops, dispute, "assign", {"arbiter": first.pk})
    assert assigned.status_code == 200, assigned.json()
    data = assigned.json()
    assert (data["arbiter"], data["arbiter_name"]) == (first.pk, first.display_name)
    assert data["decision_due_at"] is not None
    assert data["is_appeal"] is False

    decided = post(first, dispute, "resolve", {"freelancer_share_bps": 8_000, "rationale": "Late."})
    assert decided.status_code == 200, decided.json()
    assert decided.json()["status"] == "confirming"
    assert decided.json()["status_label"] == "Decided — waiting for a second arbiter"
    own = post(first, dispute, "confirm", {"agree": True})
    assert (own.status_code, own.json()["code"]) == (403, "own_decision")
    party = post(contract.client, dispute, "confirm", {"agree": True})
    assert (party.status_code, party.json()["code"]) == (403, "party_cannot_resolve")
    assert post(stranger, dispute, "confirm", {"agree": True}).status_code == 404
    no_note = post(second, dispute, "confirm", {"agree": False})
    assert (no_note.status_code, no_note.json()["code"]) == (400, "text_required")
    confirmed = post(second, dispute, "confirm", {"agree": True})
    assert confirmed.status_code == 200, confirmed.json()
    data = confirmed.json()
    assert data["status"] == "decided"
    assert (data["decided_by_name"], data["second_arbiter_name"]) == (
        first.display_name,
        second.display_name,
    )
    assert data["decided_at"] is not None
    assert data["appeal_due_at"] is not None

    assert post(first, dispute, "appeal", {"reason": "x"}).status_code == 404
    assert post(contract.client, dispute, "appeal", {}).status_code == 400
    appealed = post(contract.client, dispute, "appeal", {"reason": "Unfair."})
    assert appealed.status_code == 200, appealed.json()
    data = appealed.json()
    assert (data["status"], data["is_appeal"], data["arbiter"]) == ("escalated", True, third.pk)
    assert data["appealed_by"] == contract.client_id
    assert data["appeal_reason"] == "Unfair."
    twice = post(contract.freelancer, dispute, "appeal", {"reason": "Me too."})
    assert (twice.status_code, twice.json()["code"]) == (409, "appeal_used")
    withdraw = post(contract.client, dispute, "withdraw")
    assert (withdraw.status_code, withdraw.json()["code"]) == (409, "already_decided")
    listed = api_for(contract.freelancer).get("/api/v1/disputes/").json()["results"]
    assert listed[0]["arbiter_name"] == third.display_name


def test_the_api_withdraws_for_the_opener_only() -> None:
    contract, milestone = funded_milestone()
    dispute = opened_dispute(contract, milestone, escalate=False)
    other = post(contract.freelancer, dispute, "withdraw")
    assert (other.status_code, other.json()["code"]) == (403, "not_opener")
    assert post(verified_user(), dispute, "withdraw").status_code == 404
    done = post(contract.client, dispute, "withdraw")
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "withdrawn"
    assert done.json()["status_label"] == "Withdrawn"
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED


def test_an_arbiter_sees_their_queue_but_not_conflicted_cases() -> None:
    arbiter = make_arbiter()
    contract, milestone = funded_milestone()
    visible = opened_dispute(contract, milestone)
    assert visible.arbiter == arbiter
    other_contract, other_milestone = funded_milestone()
    worked_together(other_contract.client, arbiter)
    hidden = opened_dispute(other_contract, other_milestone)
    assert hidden.arbiter is None
    listed = api_for(arbiter).get("/api/v1/disputes/").json()["results"]
    assert [row["id"] for row in listed] == [visible.pk]
    assert api_for(arbiter).get(f"/api/v1/disputes/{hidden.pk}/").status_code == 404


def test_a_second_arbiter_refuses_through_the_api_and_still_reads_the_case(large: None) -> None:
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    second = make_arbiter()
    decide(first, dispute, 8_000)
    refused = post(second, dispute, "confirm", {"agree": False, "note": "Unread evidence."})
    assert refused.status_code == 200, refused.json()
    data = refused.json()
    assert (data["status"], data["arbiter"], data["freelancer_share_bps"]) == (
        "escalated",
        first.pk,
        None,
    )
    assert data["events"][-1]["kind"] == "confirmation_refused"
