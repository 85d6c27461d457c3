"""Shared steps of the dispute services: locks, checks, the timeline, notifications.

Lock order (shared with escrow): contract -> milestone -> dispute -> offers -> ledger
accounts. ``lock_dispute`` takes the first three.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from disputes.errors import DisputeClosed, InvalidShare, NotArbiter, PartyCannotResolve
from disputes.models import BPS, Dispute, DisputeEvent, SettlementOffer
from marketplace.models import Contract, Milestone, User
from marketplace.services.contracts import lock_milestone
from notifications.services import notify as notify_user
from smartpay import audit
from smartpay.errors import DomainError, NotFoundError

MAX_TEXT_CHARS = 10_000
ACTIVE = Dispute.ACTIVE

# What the audit log keeps of a dispute before and after each change.
STATE_FIELDS = (
    "status",
    "arbiter",
    "decision_due_at",
    "freelancer_share_bps",
    "decided_by",
    "decided_at",
    "second_arbiter",
    "appeal_due_at",
    "is_appeal",
    "resolved_by",
    "resolved_at",
)


def state(dispute: Dispute) -> dict[str, Any]:
    """The dispute's status fields, for ``audit.record``'s before/after."""
    return audit.snapshot(dispute, STATE_FIELDS)


def audit_log(
    actor: User | None,
    verb: str,
    dispute: Dispute,
    before: dict[str, Any] | None,
    note: str = "",
) -> None:
    """Audit ``dispute.<verb>`` with the status fields before and now (after)."""
    audit.record(actor, f"dispute.{verb}", dispute, before=before, after=state(dispute), note=note)


def when(moment: datetime) -> str:
    return f"{moment:%d %b %Y at %H:%M} UTC"


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


def require_arbiter(actor: User, contract: Contract) -> None:
    """Arbiters act on a case; a party never does. Staff without the arbiter
    permission are told so; anyone else finds nothing."""
    if contract.is_party(actor):
        raise PartyCannotResolve()
    if not actor.is_arbiter:
        if actor.is_staff:
            raise NotArbiter()
        raise NotFoundError("No such dispute.")


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


def notify(dispute: Dispute, user_ids: list[int], kind: str, title: str) -> None:
    """Tell parties (by id) about their case; the link opens the case page."""
    for user_id in user_ids:
        notify_user(user_id, kind, title, party_url(dispute))


def party_url(dispute: Dispute) -> str:
    """Where a party follows the case."""
    return reverse("dispute_detail", args=[dispute.pk])


def case_url(dispute: Dispute) -> str:
    """Where an arbiter works on the case (the admin's case page)."""
    try:
        return reverse("admin:disputes_dispute_change", args=[dispute.pk])
    except NoReverseMatch:
        return f"/api/v1/disputes/{dispute.pk}/"


def tell_parties(contract: Contract, dispute: Dispute, kind: str, title: str, body: str) -> None:
    """Both parties get ``body`` (the decision and its rationale): a notification, pushed
    live and e-mailed per their preferences once the transaction commits."""
    for user_id in (contract.client_id, contract.freelancer_id):
        notify_user(user_id, kind, title, party_url(dispute), target=dispute, data={"detail": body})


def close_open_offers(dispute: Dispute, status: str) -> None:
    SettlementOffer.objects.filter(dispute=dispute, status=SettlementOffer.Status.OPEN).update(
        status=status, decided_at=timezone.now()
    )


def share_text(bps: int) -> str:
    return f"{bps / 100:g} % to the freelancer"
