"""Freezes on escrow: a card chargeback locks the milestones its payment funded
until staff have looked at it."""

from __future__ import annotations

import logging

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from escrow.models import EscrowHold, Funding, FundingItem
from escrow.services import audited
from marketplace.models import Milestone, User
from marketplace.services.contracts import record_activity
from smartpay import audit
from smartpay.errors import Conflict, NotAllowed, NotFoundError

log = logging.getLogger(__name__)

HELD_STATUSES = (Milestone.Status.FUNDED, Milestone.Status.SUBMITTED, Milestone.Status.DISPUTED)


def is_frozen(milestone: Milestone) -> bool:
    return EscrowHold.objects.filter(milestone=milestone, lifted_at__isnull=True).exists()


def ensure_not_frozen(milestone: Milestone) -> None:
    if is_frozen(milestone):
        raise Conflict(
            "This milestone's escrow is frozen while a card dispute is reviewed by staff.",
            code="escrow_frozen",
        )


@transaction.atomic
def freeze_for_chargeback(
    *, payment_intent_id: str, dispute_id: str, reason: str
) -> list[EscrowHold]:
    """Freeze every milestone still holding money from this payment and tell staff."""
    funding = Funding.objects.filter(payment_intent_id=payment_intent_id).first()
    if funding is None:
        log.warning("chargeback %s for unknown payment %s", dispute_id, payment_intent_id)
        return []
    items = FundingItem.objects.filter(
        funding=funding, applied=True, milestone__status__in=HELD_STATUSES
    ).select_related("milestone__contract")
    holds = []
    for item in items:
        hold, created = EscrowHold.objects.get_or_create(
            milestone=item.milestone,
            cause=dispute_id,
            defaults={"reason": f"Card dispute ({reason or 'no reason given'})"[:300]},
        )
        holds.append(hold)
        if created:
            audit.record(None, "hold.placed", hold, after=audit.snapshot(hold, audited.HOLD))
            record_activity(
                item.milestone.contract,
                None,
                "escrow_frozen",
                f"Escrow for “{item.milestone.title}” is frozen: the card payment is disputed "
                "with the bank. Staff will review it.",
            )
    if holds and any(hold.lifted_at is None for hold in holds):
        subject = f"Chargeback {dispute_id}: escrow frozen on {len(holds)} milestone(s)"
        body = (
            f"Payment {payment_intent_id} (funding {funding.pk}) is disputed ({reason}). "
            "Lift the holds in the admin once it is settled."
        )
        transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    return holds


@transaction.atomic
def close_chargeback(*, dispute_id: str, status: str) -> list[EscrowHold]:
    """``charge.dispute.closed``. Won: the bank gave the money back, the freeze ends.
    Lost: the money went back to the cardholder; the freeze stays, and staff decide
    how the milestone is settled (its escrow no longer has money behind it)."""
    holds = list(
        EscrowHold.objects.select_for_update()
        .filter(cause=dispute_id, lifted_at__isnull=True)
        .select_related("milestone__contract")
    )
    for hold in holds:
        contract, title = hold.milestone.contract, hold.milestone.title
        before = audit.snapshot(hold, audited.HOLD)
        if status == "won":
            hold.lifted_at = timezone.now()
            hold.save(update_fields=["lifted_at"])
            audit.record(
                None,
                "hold.lifted",
                hold,
                before=before,
                after=audit.snapshot(hold, audited.HOLD),
                note="won",
            )
            record_activity(
                contract,
                None,
                "escrow_unfrozen",
                f"The card dispute was won; “{title}” is unfrozen.",
            )
        elif status == "lost":
            hold.reason = f"Card dispute lost ({dispute_id}): staff will settle this milestone"
            hold.save(update_fields=["reason"])
            audit.record(
                None,
                "hold.kept",
                hold,
                before=before,
                after=audit.snapshot(hold, audited.HOLD),
                note="lost",
            )
            record_activity(
                contract,
                None,
                "chargeback_lost",
                f"The card payment for “{title}” was reversed by the bank; staff will contact "
                "both parties.",
            )
    if holds and status == "lost":
        subject = f"Chargeback {dispute_id} lost: {len(holds)} milestone(s) stay frozen"
        body = "The escrow of these milestones has no money behind it; settle them in the admin."
        transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    return holds


def lift_hold(*, actor: User, hold_id: int) -> EscrowHold:
    """Staff end a freeze; the milestone's money may move again."""
    if not actor.is_staff:
        raise NotAllowed("Only staff lift escrow holds.")
    with transaction.atomic(durable=True):
        hold = EscrowHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise NotFoundError("No such hold.")
        if hold.lifted_at is None:
            before = audit.snapshot(hold, audited.HOLD)
            hold.lifted_at = timezone.now()
            hold.lifted_by = actor
            hold.save(update_fields=["lifted_at", "lifted_by"])
            audit.record(
                actor, "hold.lifted", hold, before=before, after=audit.snapshot(hold, audited.HOLD)
            )
            record_activity(
                hold.milestone.contract,
                actor,
                "escrow_unfrozen",
                f"Staff lifted the hold on “{hold.milestone.title}”.",
            )
    return hold
