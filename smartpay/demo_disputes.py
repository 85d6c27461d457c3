"""Demo dispute: the active contract's second milestone, paid and disputed by the
client, answered, and escalated to an arbiter, so the admin's arbiter console has a
case to decide (and, above the second-arbiter threshold, one to confirm)."""

from __future__ import annotations

from collections.abc import Callable

from disputes.models import Dispute
from disputes.services import escalate_dispute, open_dispute, respond_to_dispute
from marketplace.models import Milestone
from smartpay.demo_money import demo_contract, fund_by_card


def escalate_a_dispute() -> None:
    contract = demo_contract()
    if contract is None:
        return
    milestone = contract.milestones.order_by("position").last()
    if milestone is None or Dispute.objects.filter(milestone=milestone).exists():
        return
    if milestone.status == Milestone.Status.DRAFT:
        fund_by_card(contract, milestone, "demo-dispute-funding")
    dispute = open_dispute(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason=Dispute.Reason.SCOPE,
        description="The plan said the dashboard pages include CSV export; the freelancer "
        "now says export is a new milestone.",
    )
    respond_to_dispute(
        actor=contract.freelancer,
        dispute_id=dispute.pk,
        text="CSV export was never in the plan: the proposal lists pages and tests only.",
    )
    escalate_dispute(actor=contract.client, dispute_id=dispute.pk, note="We can't agree.")


escalate_a_dispute.own_transactions = True  # type: ignore[attr-defined]


def dispute_steps() -> list[tuple[str, Callable[[], object]]]:
    return [("a dispute with an arbiter", escalate_a_dispute)]
