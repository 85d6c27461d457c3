"""One appeal per case, within DISPUTE_APPEAL_DAYS, to an arbiter who had no part in
the first decision; the appeal round's decision is final and executes at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from disputes.errors import AppealLate, AppealUsed, ArbiterConflict, NotAssigned
from disputes.models import Dispute, DisputeEvent
from disputes.services import (
    appeal_decision,
    assign_arbiter,
    confirm_decision,
    execute_due_decisions,
)
from escrow.models import Transfer
from marketplace.models import Milestone, User
from smartpay.errors import DomainError, InvalidTransition, NotFoundError
from smartpay.models import AuditEntry
from tests.disputes.helpers import (
    decide,
    funded_milestone,
    make_arbiter,
    money,
    opened_dispute,
)
from tests.factories import verified_user

pytestmark = pytest.mark.django_db
Status = Dispute.Status


def written() -> tuple[object, ...]:
    return (
        DisputeEvent.objects.count(),
        AuditEntry.objects.count(),
        Transfer.objects.count(),
        *Dispute.objects.order_by("pk").values_list(
            "status", "arbiter_id", "is_appeal", "appealed_at", "freelancer_share_bps"
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


def appeal(user: User, dispute: Dispute, reason: str = "The call log was ignored.") -> None:
    appeal_decision(actor=user, dispute_id=dispute.pk, reason=reason)
    dispute.refresh_from_db()


def test_an_appeal_goes_to_another_arbiter_whose_decision_executes_at_once(
    django_capture_on_commit_callbacks: Any, eager_tasks: None
) -> None:
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    assert dispute.arbiter == first
    decide(first, dispute, 9_000, "Delivered in full.")
    appeals_to = make_arbiter()
    before = money(contract, milestone)

    appeal(contract.client, dispute)
    assert dispute.status == Status.ESCALATED
    assert dispute.is_appeal
    assert (dispute.appealed_by, dispute.appeal_reason) == (
        contract.client,
        "The call log was ignored.",
    )
    assert dispute.arbiter == appeals_to  # never the first arbiter, though less loaded
    assert dispute.freelancer_share_bps is None
    assert dispute.decided_by is None
    assert money(contract, milestone) == before
    # The first arbiter has no say in the appeal round.
    with pytest.raises(NotAssigned):
        decide(first, dispute)

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        decide(appeals_to, dispute, 3_000, "Three chapters of ten were delivered.")
    fee = 30_000 * contract.fee_bps // 10_000
    after = money(contract, milestone)
    assert after == {
        "client": before["client"] + 70_000,
        "freelancer_pending": before["freelancer_pending"] + 30_000 - fee,
        "escrow": 0,
        "fees": before["fees"] + fee,
        "transfers": before["transfers"] + 3,
    }
    assert dispute.status == Status.RESOLVED
    assert dispute.resolved_by == appeals_to
    # Both parties get the final decision with its rationale (besides the release mail).
    decisions = [m for m in mail.outbox if m.subject.startswith("Appeal decided")]
    assert sorted(message.to[0] for message in decisions) == sorted(
        [contract.client.email, contract.freelancer.email]
    )
    assert all("final" in message.body for message in decisions)
    assert all("Three chapters of ten" in message.body for message in decisions)
    kinds = list(dispute.events.values_list("kind", flat=True))
    assert kinds == [
        "opened",
        "escalated",
        "assigned",
        "decided",
        "appealed",
        "assigned",
        "decided",
        "resolved",
    ]
    assert execute_due_decisions() == 0
    assert money(contract, milestone) == after
    audit = AuditEntry.objects.filter(target_id=str(dispute.pk), action="dispute.appealed").get()
    assert audit.actor == contract.client
    assert (audit.before or {}).get("status") == "decided"
    assert (audit.after or {}).get("status") == "escalated"


def test_nobody_who_decided_or_confirmed_takes_the_appeal(settings: Any, unchanged: Any) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 1}
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    confirmer = make_arbiter()
    decide(first, dispute, 9_000)
    confirm_decision(actor=confirmer, dispute_id=dispute.pk, agree=True)
    appeal(contract.freelancer, dispute)
    # Only first and confirmer exist: nobody eligible, the appeal waits for an arbiter.
    assert dispute.status == Status.ESCALATED
    assert dispute.arbiter is None
    ops = verified_user(is_staff=True, is_superuser=True)
    for barred in (first, confirmer):
        error = unchanged(
            ArbiterConflict,
            lambda b=barred: assign_arbiter(actor=ops, dispute_id=dispute.pk, arbiter_id=b.pk),
        )
        assert "appeal" in error.detail
        unchanged(ArbiterConflict, lambda b=barred: decide(b, dispute))
    fresh, second_fresh = make_arbiter(), make_arbiter()
    assign_arbiter(actor=ops, dispute_id=dispute.pk)
    dispute.refresh_from_db()
    assert dispute.arbiter == fresh
    # The appeal round's large decision also needs a second arbiter, then executes.
    decide(fresh, dispute, 4_000, "Partly delivered.")
    assert dispute.status == Status.CONFIRMING
    unchanged(
        ArbiterConflict,
        lambda: confirm_decision(actor=confirmer, dispute_id=dispute.pk, agree=True),
    )
    before = money(contract, milestone)
    confirm_decision(actor=second_fresh, dispute_id=dispute.pk, agree=True)
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVED
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["client"] == before["client"] + 60_000


def test_a_case_is_appealed_once(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    decide(first, dispute)
    second = make_arbiter()
    appeal(contract.client, dispute)
    error = unchanged(AppealUsed, lambda: appeal(contract.freelancer, dispute))
    assert (error.status_code, error.code) == (409, "appeal_used")
    decide(second, dispute)  # final: executed
    unchanged(AppealUsed, lambda: appeal(contract.freelancer, dispute))


def test_a_late_appeal_is_refused_and_the_decision_executes(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    decide(arbiter, dispute)
    Dispute.objects.filter(pk=dispute.pk).update(
        appeal_due_at=timezone.now() - timedelta(seconds=1)
    )
    error = unchanged(AppealLate, lambda: appeal(contract.client, dispute))
    assert (error.status_code, error.code) == (409, "appeal_too_late")
    assert execute_due_decisions() == 1
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVED


def test_appeal_refusals(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    # Nothing decided yet.
    unchanged(InvalidTransition, lambda: appeal(contract.client, dispute))
    decide(arbiter, dispute)
    # Strangers and arbiters are not parties: they find nothing.
    for outsider in (verified_user(), arbiter):
        unchanged(NotFoundError, lambda o=outsider: appeal(o, dispute))
    error = unchanged(DomainError, lambda: appeal(contract.client, dispute, reason="  "))
    assert error.code == "text_required"


def test_in_the_appeal_round_a_refused_confirmation_goes_back_to_the_appeal_arbiter(
    settings: Any,
) -> None:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 1}
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = opened_dispute(contract, milestone)
    confirmer = make_arbiter()
    decide(first, dispute, 9_000)
    confirm_decision(actor=confirmer, dispute_id=dispute.pk, agree=True)
    appeals_to = make_arbiter()
    appeal(contract.client, dispute)
    assert dispute.arbiter == appeals_to
    decide(appeals_to, dispute, 2_000, "Little was delivered.")
    reviewer = make_arbiter()
    confirm_decision(actor=reviewer, dispute_id=dispute.pk, agree=False, note="Read the log.")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.arbiter, dispute.is_appeal) == (
        Status.ESCALATED,
        appeals_to,
        True,
    )
    before = money(contract, milestone)
    decide(appeals_to, dispute, 5_000, "Half, after the log.")  # not barred by their own round
    confirm_decision(actor=reviewer, dispute_id=dispute.pk, agree=True)
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVED
    assert money(contract, milestone)["client"] == before["client"] + 50_000
