"""The milestone lifecycle: one table of allowed moves, one function that moves.

Escrow and disputes change a milestone only through ``transition_milestone``
(DESIGN.md). The caller holds the milestone's row lock inside its transaction.
"""

from __future__ import annotations

from django.utils import timezone

from marketplace.models import Milestone, MilestoneEvent, User
from smartpay.errors import InvalidTransition

S = Milestone.Status

# (from, to) pairs; anything else is an InvalidTransition (409).
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        (S.DRAFT, S.FUNDED),  # money confirmed (escrow)
        (S.FUNDED, S.SUBMITTED),  # freelancer delivers
        (S.SUBMITTED, S.FUNDED),  # client asks for a revision
        (S.SUBMITTED, S.RELEASED),  # client approves, or review window ends (escrow)
        (S.FUNDED, S.RELEASED),  # chain rail: the contract lets the client release early
        (S.FUNDED, S.REFUNDED),  # cancelled before submission (escrow)
        (S.SUBMITTED, S.REFUNDED),  # chain rail: the freelancer refunds submitted work
        (S.FUNDED, S.DISPUTED),  # either party (disputes)
        (S.SUBMITTED, S.DISPUTED),
        (S.DISPUTED, S.RESOLVED),  # arbiter's split (disputes)
        (S.DISPUTED, S.FUNDED),  # the opener withdraws the dispute (disputes)
        (S.DISPUTED, S.SUBMITTED),
    }
)
FINAL = frozenset({S.RELEASED, S.REFUNDED, S.RESOLVED})


def can_transition(milestone: Milestone, to_status: str) -> bool:
    return (milestone.status, to_status) in ALLOWED


def transition_milestone(
    milestone: Milestone, to_status: str, *, actor: User | None, note: str = ""
) -> Milestone:
    """Move ``milestone`` (locked by the caller) to ``to_status`` and record why."""
    if not can_transition(milestone, to_status):
        raise InvalidTransition(
            f"A milestone that is {milestone.get_status_display().lower()} cannot become "
            f"{Milestone.Status(to_status).label.lower()}."
        )
    from_status = milestone.status
    milestone.status = to_status
    fields = ["status", "updated_at"]
    if to_status == S.SUBMITTED:
        milestone.submitted_at = timezone.now()
        fields.append("submitted_at")
    milestone.save(update_fields=fields)
    MilestoneEvent.objects.create(
        milestone=milestone, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    return milestone
