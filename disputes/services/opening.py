"""Open a dispute, respond to it, add evidence, escalate it to arbitration."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from disputes.errors import DisputeOpen
from disputes.models import Dispute, Evidence
from disputes.services.assignment import auto_assign_locked
from disputes.services.common import (
    audit_log,
    clean_text,
    lock_dispute,
    notify,
    other_party,
    party_url,
    record,
    require_active,
    state,
)
from marketplace import lifecycle
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail, format_amount
from marketplace.services.contracts import lock_milestone, record_activity
from marketplace.services.milestones import check_files, store_checked_file
from notifications.chat import ensure_conversation
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed

DISPUTABLE = (Milestone.Status.FUNDED, Milestone.Status.SUBMITTED)


def _clean_amount(amount: int | None, milestone: Milestone) -> int:
    held = int(milestone.amount)
    if amount is None:
        return held
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= held:
        raise DomainError(
            f"The amount in dispute is between 1 and {held} minor units.", code="invalid_amount"
        )
    return amount


def _require_disputable(contract: Contract, milestone: Milestone) -> None:
    if contract.status != Contract.Status.ACTIVE:
        raise Conflict("The contract is not active.", code="contract_not_active")
    if Dispute.objects.filter(milestone=milestone, status__in=Dispute.UNFINISHED).exists():
        raise DisputeOpen()
    allowed: tuple[str, ...] = DISPUTABLE
    if contract.rail == Rail.CHAIN:
        # The wallet's dispute transaction may already have reached chain sync.
        allowed = (*DISPUTABLE, Milestone.Status.DISPUTED)
    if milestone.status not in allowed:
        raise InvalidTransition(
            "Only a funded or submitted milestone can be disputed; this one is "
            f"{milestone.get_status_display().lower()}."
        )


def open_dispute(
    *, actor: User, milestone_id: int, reason: str, description: str, amount: int | None = None
) -> Dispute:
    """Either party disputes a funded or submitted milestone. On the card rail the
    milestone becomes disputed at once, which locks its escrow (release and refund
    refuse a disputed milestone); on the chain rail the wallet's ``dispute``
    transaction does that, and chain sync moves the milestone."""
    if reason not in Dispute.Reason.values:
        raise DomainError("Choose a reason for the dispute.", code="invalid_reason")
    description = clean_text(description, required="Describe what went wrong.")
    with transaction.atomic(durable=True):
        contract, milestone = lock_milestone(milestone_id, actor=actor)
        _require_disputable(contract, milestone)
        amount = _clean_amount(amount, milestone)
        status_before = milestone.status
        if contract.rail == Rail.CARD:
            lifecycle.transition_milestone(
                milestone, Milestone.Status.DISPUTED, actor=actor, note=f"Dispute: {reason}"
            )
        dispute = Dispute.objects.create(
            milestone=milestone,
            opened_by=actor,
            reason=reason,
            description=description,
            amount_in_dispute=amount,
            response_due_at=timezone.now() + timedelta(days=settings.DISPUTE_RESPONSE_DAYS),
            milestone_status_before=status_before,
        )
        record(dispute, actor, "opened", description)
        record_activity(
            contract,
            actor,
            "dispute_opened",
            f"{actor.display_name} opened a dispute on “{milestone.title}” "
            f"({dispute.get_reason_display().lower()}, "
            f"{format_amount(amount, contract.currency)} in dispute).",
        )
        notify(dispute, [other_party(contract, actor)], "dispute_opened", "A dispute was opened")
        ensure_conversation(
            dispute,
            "dispute",
            [contract.client_id, contract.freelancer_id],
            f"Dispute: {milestone.title}",
            url=party_url(dispute),
        )
        audit_log(actor, "opened", dispute, None, note=f"Milestone was {status_before}.")
    return dispute


def respond_to_dispute(*, actor: User, dispute_id: int, text: str) -> Dispute:
    """The other party answers, within ``DISPUTE_RESPONSE_DAYS``."""
    text = clean_text(text, required="Write your response.")
    with transaction.atomic(durable=True):
        _contract, _milestone, dispute = lock_dispute(dispute_id, actor=actor)
        require_active(dispute)
        if actor.pk == dispute.opened_by_id:
            raise NotAllowed("The other party responds to a dispute.", code="not_respondent")
        if dispute.status != Dispute.Status.OPEN:
            raise InvalidTransition(
                f"This dispute is {dispute.get_status_display().lower()}; it was answered already."
            )
        before = state(dispute)
        dispute.status = Dispute.Status.RESPONDED
        dispute.save(update_fields=["status", "updated_at"])
        record(dispute, actor, "responded", text)
        notify(dispute, [dispute.opened_by_id], "dispute_responded", "The dispute was answered")
        audit_log(actor, "responded", dispute, before)
    return dispute


def escalate_dispute(*, actor: User, dispute_id: int, note: str = "") -> Dispute:
    """A party asks for an arbiter; the least loaded unconflicted arbiter gets the case
    (it waits unassigned when there is none)."""
    note = clean_text(note)
    with transaction.atomic(durable=True):
        contract, _milestone, dispute = lock_dispute(dispute_id, actor=actor)
        require_active(dispute)
        if dispute.status == Dispute.Status.ESCALATED:
            return dispute
        before = state(dispute)
        dispute.status = Dispute.Status.ESCALATED
        dispute.save(update_fields=["status", "updated_at"])
        record(dispute, actor, "escalated", note or f"{actor.display_name} asked for an arbiter.")
        notify(
            dispute,
            [other_party(contract, actor)],
            "dispute_escalated",
            "The dispute went to arbitration",
        )
        audit_log(actor, "escalated", dispute, before, note=note)
        if dispute.arbiter_id is None:
            auto_assign_locked(contract, dispute)
    return dispute


def add_evidence(
    *, actor: User, dispute_id: int, text: str = "", files: Sequence[Any] = ()
) -> list[Evidence]:
    """A party adds a statement and/or files; each file's SHA-256 is stored."""
    text = clean_text(text)
    checked = check_files(list(files))
    if not text and not checked:
        raise DomainError("Add a statement or a file.", code="evidence_empty")
    stored: list[str] = []
    try:
        with transaction.atomic(durable=True):
            contract, _milestone, dispute = lock_dispute(dispute_id, actor=actor)
            require_active(dispute)
            rows = []
            if text:
                rows.append(Evidence.objects.create(dispute=dispute, submitted_by=actor, text=text))
            for item in checked:
                row = Evidence(dispute=dispute, submitted_by=actor)
                store_checked_file(row, item, stored)
                rows.append(row)
            names = ", ".join(f"{item.name} (SHA-256 {item.sha256})" for item in checked)
            record(dispute, actor, "evidence", "\n".join(filter(None, [text, names])))
            notify(dispute, [other_party(contract, actor)], "dispute_evidence", "New evidence")
            audit.record(
                actor,
                "dispute.evidence_added",
                dispute,
                before=None,
                after={"evidence": [row.pk for row in rows], **state(dispute)},
                note=names,
            )
    except BaseException:
        # The rows rolled back; the bytes already in storage must go too.
        for name in stored:
            default_storage.delete(name)
        raise
    return rows
