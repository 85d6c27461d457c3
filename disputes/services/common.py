"""Shared steps of the dispute services: locks, checks, the timeline, notifications.

Lock order (shared with escrow): contract -> milestone -> dispute -> offers -> ledger
accounts. ``lock_dispute`` takes the first three.
"""

from __future__ import annotations

from django.utils import timezone

from disputes.errors import DisputeClosed, InvalidShare
from disputes.models import BPS, Dispute, DisputeEvent, SettlementOffer
from marketplace.models import Contract, Milestone, User
from marketplace.services.contracts import lock_milestone, workroom_url
from notifications.push import notify_on_commit
from smartpay.errors import DomainError, NotFoundError

MAX_TEXT_CHARS = 10_000
ACTIVE = (Dispute.Status.OPEN, Dispute.Status.RESPONDED, Dispute.Status.ESCALATED)


def lock_dispute(
    dispute_id: int, *, actor: User | None = None
) -> tuple[Contract, Milestone, Dispute]:
    """Lock a dispute with its contract and milestone. With ``actor``, only the
    contract's parties find it; anyone else gets a 404."""
    milestone_id = Dispute.objects.filter(pk=dispute_id).values_list("milestone_id", flat=True)
    found = milestone_id.first()
    if found is None:
        raise NotFoundError("No such dispute.")
    contract, milestone = lock_milestone(found)
    if actor is not None and not contract.is_party(actor):
        raise NotFoundError("No such dispute.")
    return contract, milestone, Dispute.objects.select_for_update().get(pk=dispute_id)


def require_active(dispute: Dispute) -> None:
    if dispute.status not in ACTIVE:
        raise DisputeClosed(f"This dispute is {dispute.get_status_display().lower()}.")


def other_party(contract: Contract, actor: User) -> int:
    return contract.freelancer_id if actor.pk == contract.client_id else contract.client_id


def clean_text(text: str, *, required: str | None = None) -> str:
    """Trimmed ``text``; ``required`` is the detail when it may not be empty."""
    text = (text or "").strip()
    if required and not text:
        raise DomainError(required, code="text_required")
    if len(text) > MAX_TEXT_CHARS:
        raise DomainError(f"Keep it under {MAX_TEXT_CHARS} characters.", code="too_long")
    return text


def valid_share(freelancer_share_bps: object) -> int:
    """A whole number of basis points, 0 to 10000 (bools and fractions refused)."""
    if isinstance(freelancer_share_bps, bool) or not isinstance(freelancer_share_bps, int):
        raise InvalidShare()
    if not 0 <= freelancer_share_bps <= BPS:
        raise InvalidShare()
    return freelancer_share_bps


def record(dispute: Dispute, actor: User | None, kind: str, text: str) -> DisputeEvent:
    return DisputeEvent.objects.create(dispute=dispute, actor=actor, kind=kind, text=text)


def notify(contract: Contract, user_ids: list[int], kind: str, title: str) -> None:
    for user_id in user_ids:
        notify_on_commit(user_id, kind, title, workroom_url(contract))


def close_open_offers(dispute: Dispute, status: str) -> None:
    SettlementOffer.objects.filter(dispute=dispute, status=SettlementOffer.Status.OPEN).update(
        status=status, decided_at=timezone.now()
    )


def share_text(bps: int) -> str:
    return f"{bps / 100:g} % to the freelancer"
