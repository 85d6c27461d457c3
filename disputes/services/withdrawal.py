"""The opener drops the case before any decision; the milestone goes back to where it was."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from disputes.errors import NotOpener
from disputes.models import Dispute, SettlementOffer
from disputes.services.common import (
    audit_log,
    close_open_offers,
    lock_dispute,
    notify,
    other_party,
    record,
    require_active,
    state,
)
from marketplace import lifecycle
from marketplace.models import Milestone, User
from marketplace.money import Rail
from marketplace.services.contracts import record_activity
from smartpay.errors import Conflict, InvalidTransition

RESTORABLE = (Milestone.Status.FUNDED, Milestone.Status.SUBMITTED)


def withdraw_dispute(*, actor: User, dispute_id: int) -> Dispute:
    """The party who opened the dispute withdraws it while no arbiter has decided
    (not in the appeal round either). On the card rail the milestone returns to the
    status it had before (funded or submitted). On the chain rail only an arbiter's
    ``resolve`` ends a dispute the escrow contract holds: withdrawal is possible only
    while the wallet's ``dispute`` transaction has not reached chain sync."""
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id, actor=actor)
        if actor.pk != dispute.opened_by_id:
            raise NotOpener()
        require_active(dispute)
        if dispute.decided_at is not None or dispute.is_appeal:
            raise InvalidTransition(
                "An arbiter has decided this dispute; it can no longer be withdrawn.",
                code="already_decided",
            )
        before = state(dispute)
        before_milestone = milestone.status
        if milestone.status == Milestone.Status.DISPUTED:
            if contract.rail == Rail.CHAIN:
                raise Conflict(
                    "The escrow contract holds this milestone as disputed; only an "
                    "arbiter's decision ends it now.",
                    code="disputed_on_chain",
                )
            back_to = dispute.milestone_status_before
            if back_to not in RESTORABLE:
                back_to = (
                    Milestone.Status.SUBMITTED
                    if milestone.submitted_at
                    else Milestone.Status.FUNDED
                )
            lifecycle.transition_milestone(
                milestone, back_to, actor=actor, note="Dispute withdrawn"
            )
        dispute.status = Dispute.Status.WITHDRAWN
        dispute.resolved_at = timezone.now()
        dispute.save(update_fields=["status", "resolved_at", "updated_at"])
        close_open_offers(dispute, SettlementOffer.Status.WITHDRAWN)
        record(dispute, actor, "withdrawn", f"{actor.display_name} withdrew the dispute.")
        record_activity(
            contract,
            actor,
            "dispute_withdrawn",
            f"{actor.display_name} withdrew the dispute on “{milestone.title}”; the milestone "
            f"is {milestone.get_status_display().lower()} again.",
        )
        notify(
            dispute,
            [other_party(contract, actor)],
            "dispute_withdrawn",
            f"The dispute on “{milestone.title}” was withdrawn",
        )
        audit_log(
            actor,
            "withdrawn",
            dispute,
            before,
            note=f"Milestone {before_milestone} -> {milestone.status}.",
        )
    return dispute
