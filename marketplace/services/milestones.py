"""Milestones of an active contract: edit the unfunded plan, submit work, ask for a revision.

Status changes go through ``marketplace.lifecycle.transition_milestone``. Lock order:
contract -> milestone (see marketplace.services.contracts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from marketplace import lifecycle
from marketplace.models import (
    Contract,
    Milestone,
    RevisionRequest,
    Submission,
    SubmissionFile,
    User,
)
from marketplace.money import Rail, format_amount
from marketplace.services import audited
from marketplace.services.contracts import (
    complete_contract_if_done,
    lock_milestone,
    lock_party_contract,
    record_activity,
    workroom_url,
)
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed
from smartpay.uploads import CheckedFile, check_upload

MAX_FILES = 10
MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_MESSAGE_CHARS = 10_000


def check_files(files: Sequence[Any]) -> list[CheckedFile]:
    """Validate every upload before anything is written; return them with their digests."""
    if len(files) > MAX_FILES:
        raise DomainError(f"Attach at most {MAX_FILES} files.", code="too_many_files")
    return [check_upload(upload, max_bytes=MAX_FILE_BYTES) for upload in files]


# --- the plan of an active contract -------------------------------------------


def _require_plan_editor(actor: User, contract: Contract) -> None:
    if contract.client_id != actor.pk:
        raise NotAllowed("Only the client edits the milestone plan.")
    if contract.status != Contract.Status.ACTIVE:
        raise Conflict("The contract is not active.", code="contract_not_active")
    # Through the reverse relation: marketplace does not import escrow (DESIGN.md).
    if (
        contract.rail == Rail.CHAIN
        and Contract.objects.filter(pk=contract.pk, chain_escrow__isnull=False).exists()
    ):
        raise Conflict(
            "The milestone plan is fixed: the escrow on chain was set up with these "
            "milestones and amounts.",
            code="chain_terms_fixed",
        )


def _lock_for_client(actor: User, contract_id: int) -> Contract:
    contract = lock_party_contract(actor, contract_id)
    _require_plan_editor(actor, contract)
    return contract


def _lock_draft(actor: User, milestone_id: int) -> tuple[Contract, Milestone]:
    contract, milestone = lock_milestone(milestone_id, actor=actor)
    _require_plan_editor(actor, contract)
    if milestone.status != Milestone.Status.DRAFT:
        raise Conflict(
            f"Only unfunded milestones can change; this one is "
            f"{milestone.get_status_display().lower()}.",
            code="milestone_not_draft",
        )
    return contract, milestone


def _check_terms(title: str | None, amount: int | None) -> None:
    if title is not None and not title.strip():
        raise DomainError("Give the milestone a title.", code="title_required")
    if amount is not None and int(amount) <= 0:
        raise DomainError(
            "A milestone's amount must be more than zero.", code="amount_not_positive"
        )


def _tell_freelancer(contract: Contract, actor: User, verb: str, summary: str) -> None:
    record_activity(contract, actor, verb, summary)
    notify(
        contract.freelancer_id,
        verb,
        f"Milestones changed: {contract.title}",
        workroom_url(contract),
    )


def add_milestone(
    *, actor: User, contract_id: int, title: str, amount: int, due_date: date | None = None
) -> Milestone:
    """The client adds an unfunded milestone at the end of an active contract's plan."""
    _check_terms(title, amount)
    with transaction.atomic():
        contract = _lock_for_client(actor, contract_id)
        last = contract.milestones.aggregate(last=Max("position"))["last"] or 0
        milestone = Milestone.objects.create(
            contract=contract,
            position=last + 1,
            title=title.strip(),
            amount=int(amount),
            due_date=due_date,
        )
        audit.record(
            actor, "milestone.added", milestone, after=audit.snapshot(milestone, audited.MILESTONE)
        )
        _tell_freelancer(
            contract,
            actor,
            "milestone_added",
            f"{actor.display_name} added milestone “{milestone.title}” "
            f"({format_amount(milestone.amount, contract.currency)}).",
        )
    return milestone


_UNCHANGED: Any = object()


def update_milestone(
    *,
    actor: User,
    milestone_id: int,
    title: str | None = None,
    amount: int | None = None,
    due_date: date | Any | None = _UNCHANGED,
) -> Milestone:
    """The client changes an unfunded milestone's title, amount or due date."""
    _check_terms(title, amount)
    with transaction.atomic():
        contract, milestone = _lock_draft(actor, milestone_id)
        before = audit.snapshot(milestone, audited.MILESTONE)
        changes = []
        if title is not None and title.strip() != milestone.title:
            milestone.title = title.strip()
            changes.append("title")
        if amount is not None and int(amount) != milestone.amount:
            milestone.amount = int(amount)
            changes.append(f"amount {format_amount(milestone.amount, contract.currency)}")
        if due_date is not _UNCHANGED and due_date != milestone.due_date:
            milestone.due_date = due_date
            changes.append("due date")
        if changes:
            milestone.save(update_fields=["title", "amount", "due_date", "updated_at"])
            audit.record(
                actor,
                "milestone.updated",
                milestone,
                before=before,
                after=audit.snapshot(milestone, audited.MILESTONE),
            )
            _tell_freelancer(
                contract,
                actor,
                "milestone_changed",
                f"{actor.display_name} changed milestone “{milestone.title}”: "
                f"{', '.join(changes)}.",
            )
    return milestone


def remove_milestone(*, actor: User, milestone_id: int) -> Contract:
    """The client removes an unfunded milestone; later ones move up to keep positions 1..n."""
    with transaction.atomic():
        contract, milestone = _lock_draft(actor, milestone_id)
        if contract.milestones.count() == 1:
            raise Conflict("A contract keeps at least one milestone.", code="last_milestone")
        position, title = milestone.position, milestone.title
        audit.record(
            actor,
            "milestone.removed",
            milestone,
            before=audit.snapshot(milestone, audited.MILESTONE),
        )
        milestone.delete()
        # Ascending order: each row moves into the gap the previous one left.
        for later in contract.milestones.select_for_update().filter(position__gt=position):
            later.position -= 1
            later.save(update_fields=["position", "updated_at"])
        _tell_freelancer(
            contract,
            actor,
            "milestone_removed",
            f"{actor.display_name} removed milestone “{title}”.",
        )
        # Removing the last unfinished milestone may finish the contract.
        complete_contract_if_done(contract)
    return contract


# --- delivering work ----------------------------------------------------------


def _lock_milestone_as(actor: User, milestone_id: int, role: str) -> tuple[Contract, Milestone]:
    contract, milestone = lock_milestone(milestone_id, actor=actor, role=role)
    if contract.status != Contract.Status.ACTIVE:
        raise Conflict("The contract is not active.", code="contract_not_active")
    return contract, milestone


def store_submission(
    milestone: Milestone,
    actor: User,
    message: str,
    checked: Sequence[CheckedFile],
    stored: list[str],
) -> Submission:
    """Write the next submission of ``milestone`` (locked by the caller) with its files.

    Each stored file's name is appended to ``stored`` as soon as its bytes are written, so
    the caller can delete them if its transaction rolls back.
    """
    last = milestone.submissions.aggregate(last=Max("number"))["last"] or 0
    submission = Submission.objects.create(
        milestone=milestone, number=last + 1, message=message, submitted_by=actor
    )
    for item in checked:
        store_checked_file(SubmissionFile(submission=submission), item, stored)
    return submission


def store_checked_file(row: Any, item: CheckedFile, stored: list[str]) -> None:
    """Write a checked upload's bytes to storage and save ``row`` (a model with ``file``,
    ``name``, ``size``, ``content_type`` and ``sha256``) describing them. The stored name
    is appended to ``stored`` before the row is saved, so the caller can delete the bytes
    if its transaction rolls back."""
    row.name, row.size = item.name, item.size
    row.content_type, row.sha256 = item.content_type, item.sha256
    row.file.save(item.name, File(item.upload, name=item.name), save=False)
    stored.append(row.file.name)
    row.save()


def _require_card_rail(contract: Contract) -> None:
    """On the chain rail the contract's state moves only with the chain: the wallet
    sends the transaction and chain sync applies its event."""
    if contract.rail == Rail.CHAIN:
        raise Conflict(
            "On the chain rail this is done from your wallet in the Payments panel.",
            code="wrong_rail",
        )


def submit_milestone(
    *, actor: User, milestone_id: int, message: str, files: Iterable[Any] = ()
) -> Submission:
    """The freelancer delivers work on a funded milestone; the review window starts."""
    message = (message or "").strip()
    if not message:
        raise DomainError("Describe what you are delivering.", code="message_required")
    if len(message) > MAX_MESSAGE_CHARS:
        raise DomainError(
            f"Keep the message under {MAX_MESSAGE_CHARS} characters.", code="message_too_long"
        )
    checked = check_files(list(files))
    stored: list[str] = []
    try:
        with transaction.atomic():
            contract, milestone = _lock_milestone_as(actor, milestone_id, "freelancer")
            _require_card_rail(contract)
            before = audit.snapshot(milestone, audited.MILESTONE)
            lifecycle.transition_milestone(
                milestone, Milestone.Status.SUBMITTED, actor=actor, note=message[:200]
            )
            milestone.review_deadline = timezone.now() + timedelta(days=settings.ESCROW_REVIEW_DAYS)
            milestone.save(update_fields=["review_deadline", "updated_at"])
            submission = store_submission(milestone, actor, message, checked, stored)
            note = f"submission {submission.number}"
            audit.record(
                actor,
                "milestone.submitted",
                milestone,
                before=before,
                after=audit.snapshot(milestone, audited.MILESTONE),
                note=note,
            )
            record_activity(
                contract,
                actor,
                "milestone_submitted",
                f"{actor.display_name} submitted work on “{milestone.title}”"
                f" (submission {submission.number}, {len(checked)} file(s)).",
            )
            notify(
                contract.client_id,
                "milestone_submitted",
                f"Work submitted: {milestone.title}",
                workroom_url(contract),
            )
    except BaseException:
        # The rows rolled back; the bytes already in storage must go too.
        for name in stored:
            default_storage.delete(name)
        raise
    return submission


def request_revision(*, actor: User, milestone_id: int, reason: str) -> RevisionRequest:
    """The client sends submitted work back; the milestone is funded again and awaits
    a new submission."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say what needs to change.", code="reason_required")
    if len(reason) > MAX_MESSAGE_CHARS:
        raise DomainError(
            f"Keep the reason under {MAX_MESSAGE_CHARS} characters.", code="reason_too_long"
        )
    with transaction.atomic():
        contract, milestone = _lock_milestone_as(actor, milestone_id, "client")
        _require_card_rail(contract)
        # Checked here, not by the transition table: draft -> funded is a legal move
        # (money confirmed), but never by way of a revision request.
        if milestone.status != Milestone.Status.SUBMITTED:
            raise InvalidTransition(
                "Only submitted work can be sent back for a revision; this milestone is "
                f"{milestone.get_status_display().lower()}."
            )
        before = audit.snapshot(milestone, audited.MILESTONE)
        lifecycle.transition_milestone(
            milestone, Milestone.Status.FUNDED, actor=actor, note=reason[:200]
        )
        milestone.review_deadline = None
        milestone.save(update_fields=["review_deadline", "updated_at"])
        revision = RevisionRequest.objects.create(
            milestone=milestone, reason=reason, requested_by=actor
        )
        after = audit.snapshot(milestone, audited.MILESTONE)
        audit.record(
            actor,
            "milestone.revision_requested",
            milestone,
            before=before,
            after=after,
            note=reason[:500],
        )
        record_activity(
            contract,
            actor,
            "revision_requested",
            f"{actor.display_name} asked for a revision of “{milestone.title}”: {reason}",
        )
        notify(
            contract.freelancer_id,
            "revision_requested",
            f"Revision requested: {milestone.title}",
            workroom_url(contract),
        )
    return revision
