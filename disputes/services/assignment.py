"""Who arbitrates a case: staff's choice, or round-robin by load; never a conflicted
arbiter. Each assignment starts the decision deadline (``DISPUTE_DECISION_DAYS``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from disputes import selectors
from disputes.errors import ArbiterConflict, NoArbiterAvailable, NotStaff
from disputes.models import Dispute
from disputes.services.common import (
    audit_log,
    case_url,
    lock_dispute,
    party_url,
    record,
    state,
    when,
)
from marketplace.models import Contract, User
from notifications.chat import ensure_conversation
from notifications.services import notify as notify_user
from smartpay.errors import DomainError, InvalidTransition


def ensure_unconflicted(arbiter: User, contract: Contract, dispute: Dispute) -> None:
    """Refuse (409 ``arbiter_conflict``) an arbiter who is a party, has worked with
    either party on another contract, or (in the appeal round) decided or confirmed
    the first round."""
    reason = selectors.conflict_reason(arbiter, contract)
    if reason:
        raise ArbiterConflict(reason)
    if dispute.is_appeal and arbiter.pk in selectors.prior_deciders(dispute):
        raise ArbiterConflict(
            f"{arbiter.display_name} took part in the decision under appeal; "
            "the appeal goes to another arbiter."
        )


def assign_locked(
    contract: Contract, dispute: Dispute, *, actor: User | None, arbiter: User, how: str = ""
) -> None:
    """Give the case to ``arbiter`` (checked by the caller); the caller holds the
    dispute's locks. Restarts the decision deadline."""
    before = state(dispute)
    now = timezone.now()
    dispute.arbiter = arbiter
    dispute.assigned_at = now
    dispute.decision_due_at = now + timedelta(days=settings.DISPUTE_DECISION_DAYS)
    dispute.save(update_fields=["arbiter", "assigned_at", "decision_due_at", "updated_at"])
    due = when(dispute.decision_due_at)
    record(
        dispute,
        actor,
        "assigned",
        f"{arbiter.display_name} is the arbiter{how}; the decision is due by {due}.",
    )
    if actor is None or actor.pk != arbiter.pk:
        title = f"Dispute assigned to you: “{dispute.milestone.title}”, decide by {due}"
        notify_user(arbiter.pk, "dispute_assigned", title, case_url(dispute))
    ensure_conversation(
        dispute,
        "dispute",
        [contract.client_id, contract.freelancer_id, arbiter.pk],
        f"Dispute: {dispute.milestone.title}",
        url=party_url(dispute),
    )
    audit_log(actor, "assigned", dispute, before)


def auto_assign_locked(
    contract: Contract, dispute: Dispute, *, exclude: Iterable[int] = ()
) -> User | None:
    """Round-robin by load among unconflicted arbiters (not in ``exclude``); the case
    stays unassigned when there is none. The caller holds the dispute's locks."""
    arbiter = selectors.next_arbiter(contract, exclude=exclude)
    if arbiter is not None:
        assign_locked(contract, dispute, actor=None, arbiter=arbiter, how=" (by load)")
    return arbiter


def assign_arbiter(
    *, actor: User | None, dispute_id: int, arbiter_id: int | None = None
) -> Dispute:
    """Staff who manage disputes give an escalated case to ``arbiter_id``, or with None
    to the least loaded unconflicted arbiter. ``actor`` None is the platform itself."""
    if actor is not None and not selectors.manages_disputes(actor):
        raise NotStaff()
    with transaction.atomic(durable=True):
        contract, _milestone, dispute = lock_dispute(dispute_id)
        if dispute.status != Dispute.Status.ESCALATED:
            raise InvalidTransition(
                "Only a case with an arbiter's decision to make can be assigned; this one is "
                f"{dispute.get_status_display().lower()}."
            )
        excluded = selectors.prior_deciders(dispute) if dispute.is_appeal else set()
        if arbiter_id is None:
            arbiter = selectors.next_arbiter(contract, exclude=excluded)
            if arbiter is None:
                raise NoArbiterAvailable()
            how = " (by load)"
        else:
            found = User.objects.filter(pk=arbiter_id).first()
            if found is None or not found.is_arbiter:
                raise DomainError("Choose a user in the arbiters group.", code="not_an_arbiter")
            ensure_unconflicted(found, contract, dispute)
            arbiter, how = found, ""
        if dispute.arbiter_id == arbiter.pk:
            return dispute  # already theirs: nothing changes
        assign_locked(contract, dispute, actor=actor, arbiter=arbiter, how=how)
    return dispute
