"""Refunds of funded milestones, before any work is submitted.

The freelancer may refund on their own, or agree to the client's refund
request; a request the freelancer leaves unanswered for
``REFUND_RESPONSE_DAYS`` is accepted (DESIGN.md). Money goes back on the rail
it came from: a Stripe Refund of the card payment, or the client's balance
when they chose to keep it for reuse (or paid from the balance).

A card refund books escrow -> client available -> external before the
provider is called, so the money can't be spent twice while the refund is in
flight; a refund the provider refuses for good moves it back to the balance.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from escrow import ledger
from escrow.models import Funding, LedgerAccount, Refund, RefundRequest
from escrow.rails import RailError, card_provider
from escrow.services import audited
from escrow.services.funding import funding_of
from escrow.services.holds import ensure_not_frozen
from escrow.services.locks import require_active_card_contract
from marketplace import lifecycle
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail, format_amount
from marketplace.services.contracts import (
    complete_contract_if_done,
    lock_milestone,
    record_activity,
    workroom_url,
)
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotFoundError

log = logging.getLogger(__name__)
Kind = LedgerAccount.Kind
MAX_REASON_CHARS = 2_000
MAX_ATTEMPTS = 6


class RefundNotYetKnown(DomainError):
    """A provider event names a refund we have not recorded yet (events arrive in
    any order); the event is kept and processed again later."""

    status_code = 409
    code = "refund_not_yet_known"


def _check_destination(destination: str, funding: Funding | None) -> str:
    """``funding`` paid for the milestone (``funding_of``)."""
    if destination not in Refund.Destination.values:
        raise DomainError("Refund to the card or to the balance.", code="invalid_destination")
    if destination == Refund.Destination.CARD and (
        funding is None or funding.source != Funding.Source.CARD
    ):
        raise DomainError(
            "This milestone was paid from the SmartPay balance; it can only go back there.",
            code="invalid_destination",
        )
    return destination


def _default_destination(funding: Funding | None) -> str:
    if funding is not None and funding.source == Funding.Source.CARD:
        return Refund.Destination.CARD
    return Refund.Destination.BALANCE


def _require_funded(milestone: Milestone) -> None:
    if milestone.status != Milestone.Status.FUNDED:
        raise InvalidTransition(
            "Only a funded milestone with no work submitted can be refunded; this one is "
            f"{milestone.get_status_display().lower()}."
        )


def _require_disputed(milestone: Milestone) -> None:
    if milestone.status != Milestone.Status.DISPUTED:
        raise InvalidTransition(
            "Only a disputed milestone can be refunded by a dispute's decision; this one is "
            f"{milestone.get_status_display().lower()}."
        )


def request_refund(
    *, actor: User, milestone_id: int, reason: str, destination: str = "card"
) -> RefundRequest:
    """The client asks to cancel a funded milestone; the freelancer answers."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why you want the money back.", code="reason_required")
    if len(reason) > MAX_REASON_CHARS:
        raise DomainError(f"Keep the reason under {MAX_REASON_CHARS} characters.", code="too_long")
    with transaction.atomic(durable=True):
        contract, milestone = lock_milestone(milestone_id, actor=actor, role="client")
        require_active_card_contract(contract)
        _require_funded(milestone)
        _check_destination(destination, funding_of(milestone))
        if RefundRequest.objects.filter(
            milestone=milestone, status=RefundRequest.Status.OPEN
        ).exists():
            raise Conflict("A refund request is already open.", code="refund_request_open")
        refund_request = RefundRequest.objects.create(
            milestone=milestone,
            requested_by=actor,
            reason=reason,
            destination=destination,
            respond_by=timezone.now() + timedelta(days=settings.REFUND_RESPONSE_DAYS),
        )
        audit.record(
            actor,
            "refund_request.opened",
            refund_request,
            after=audit.snapshot(refund_request, audited.REFUND_REQUEST),
            note=reason,
        )
        record_activity(
            contract,
            actor,
            "refund_requested",
            f"{actor.display_name} asked for a refund of “{milestone.title}”: {reason}. "
            f"Without an answer by {refund_request.respond_by:%d %b %Y} it is refunded.",
        )
        notify(
            contract.freelancer_id,
            "refund_requested",
            f"Refund requested: {milestone.title}",
            workroom_url(contract),
        )
    return refund_request


def _lock_request(actor: User, refund_request_id: int, role: str) -> tuple[Contract, RefundRequest]:
    milestone_id = (
        RefundRequest.objects.filter(pk=refund_request_id)
        .values_list("milestone_id", flat=True)
        .first()
    )
    if milestone_id is None:
        raise NotFoundError("No such refund request.")
    try:
        contract, _ = lock_milestone(milestone_id, actor=actor, role=role)
    except NotFoundError:
        raise NotFoundError("No such refund request.") from None
    refund_request = RefundRequest.objects.select_for_update().get(pk=refund_request_id)
    if refund_request.status != RefundRequest.Status.OPEN:
        raise Conflict(
            f"This request is {refund_request.get_status_display().lower()}.",
            code="refund_request_closed",
        )
    return contract, refund_request


def _close_request(refund_request: RefundRequest, status: str, actor: User | None) -> None:
    before = audit.snapshot(refund_request, audited.REFUND_REQUEST)
    refund_request.status = status
    refund_request.closed_at = timezone.now()
    refund_request.save(update_fields=["status", "closed_at"])
    audit.record(
        actor,
        f"refund_request.{status}",
        refund_request,
        before=before,
        after=audit.snapshot(refund_request, audited.REFUND_REQUEST),
    )


def withdraw_refund_request(*, actor: User, refund_request_id: int) -> RefundRequest:
    with transaction.atomic(durable=True):
        contract, refund_request = _lock_request(actor, refund_request_id, "client")
        _close_request(refund_request, RefundRequest.Status.WITHDRAWN, actor)
        record_activity(
            contract, actor, "refund_request_withdrawn", "The refund request was withdrawn."
        )
    return refund_request


def decline_refund_request(*, actor: User, refund_request_id: int) -> RefundRequest:
    """The freelancer says no; the client may open a dispute instead."""
    with transaction.atomic(durable=True):
        contract, refund_request = _lock_request(actor, refund_request_id, "freelancer")
        _close_request(refund_request, RefundRequest.Status.DECLINED, actor)
        record_activity(
            contract,
            actor,
            "refund_request_declined",
            f"{actor.display_name} declined the refund; the client may open a dispute.",
        )
        notify(
            contract.client_id, "refund_declined", "Refund request declined", workroom_url(contract)
        )
    return refund_request


def refund_milestone(*, actor: User, milestone_id: int, destination: str | None = None) -> Refund:
    """The freelancer gives a funded milestone's money back (or accepts the request)."""
    with transaction.atomic(durable=True):
        contract, milestone = lock_milestone(milestone_id, actor=actor, role="freelancer")
        require_active_card_contract(contract)
        before = audit.snapshot(milestone, audited.MILESTONE)
        refund = refund_locked(milestone, contract=contract, actor=actor, destination=destination)
        _audit_refund(actor, milestone, before, refund)
        complete_contract_if_done(contract)
    return refund


def _audit_refund(
    actor: User | None, milestone: Milestone, before: audit.Snapshot, refund: Refund
) -> None:
    after = audit.snapshot(milestone, audited.MILESTONE)
    after["refund"] = audit.snapshot(refund, audited.REFUND)
    audit.record(actor, "milestone.refunded", milestone, before=before, after=after)


def refund_locked(
    milestone: Milestone,
    *,
    contract: Contract,
    actor: User | None,
    destination: str | None,
    to_status: str = Milestone.Status.REFUNDED,
) -> Refund:
    """Refund a funded milestone; the caller holds the contract and milestone locks.

    ``to_status=RESOLVED`` refunds a disputed milestone whose dispute gave the
    freelancer nothing (the disputes app's decision), back the way it was paid."""
    if to_status == Milestone.Status.RESOLVED:
        _require_disputed(milestone)
    else:
        _require_funded(milestone)
    ensure_not_frozen(milestone)
    open_request = (
        RefundRequest.objects.select_for_update()
        .filter(milestone=milestone, status=RefundRequest.Status.OPEN)
        .first()
    )
    funding = funding_of(milestone)
    if destination is None:
        destination = open_request.destination if open_request else _default_destination(funding)
    _check_destination(destination, funding)
    available = ledger.user_account(contract.client, Kind.AVAILABLE, contract.currency)
    external = ledger.external_account(Rail.CARD, contract.currency)
    escrow = ledger.escrow_account(milestone)
    held = int(ledger.lock_accounts(escrow, available, external)[escrow.pk].balance)
    ledger.move(
        source=escrow,
        destination=available,
        amount=held,
        key=f"refund:{milestone.pk}",
        memo=f"Refund of “{milestone.title}”",
    )
    to_card = destination == Refund.Destination.CARD
    refund = Refund.objects.create(
        milestone=milestone,
        funding=funding,
        client=contract.client,
        requested_by=actor,
        destination=destination,
        currency=contract.currency,
        amount=held,
        status=Refund.Status.PENDING if to_card else Refund.Status.SUCCEEDED,
    )
    if to_card:
        ledger.move(
            source=available,
            destination=external,
            amount=held,
            key=f"card-refund:{refund.pk}",
            memo=f"Refund to card of “{milestone.title}”",
        )
        from escrow.tasks_refunds import send_card_refund_task

        refund_id = refund.pk
        transaction.on_commit(lambda: send_card_refund_task.delay(refund_id))
    if open_request is not None:
        _close_request(open_request, RefundRequest.Status.ACCEPTED, actor)
    lifecycle.transition_milestone(
        milestone, to_status, actor=actor, note=refund.get_destination_display()
    )
    who = actor.display_name if actor else "SmartPay (the request went unanswered)"
    record_activity(
        contract,
        actor,
        "milestone_refunded",
        f"{who} refunded {format_amount(held, contract.currency)} for “{milestone.title}” "
        f"({refund.get_destination_display().lower()}).",
    )
    notify(
        contract.client_id,
        "milestone_refunded",
        f"Refunded: {milestone.title}",
        workroom_url(contract),
    )
    return refund


def send_card_refund(*, refund_id: int, actor: User | None = None) -> Refund:
    """Ask the provider to refund the card; outside any transaction. The provider's
    idempotency key makes a repeated call (retry, twin worker) refund once. ``actor``
    is the staff member who pressed "send now" in the admin, if one did."""
    refund = Refund.objects.select_related("funding").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING or refund.provider_refund_id:
        return refund
    assert refund.funding is not None
    assert refund.funding.payment_intent_id
    try:
        info = card_provider().create_refund(
            payment_intent_id=refund.funding.payment_intent_id,
            amount=int(refund.amount),
            metadata={"refund_id": str(refund.pk), "milestone_id": str(refund.milestone_id)},
            idempotency_key=f"refund-{refund.pk}",
        )
    except RailError as error:
        return _refund_attempt_failed(refund, error)
    with transaction.atomic():
        before = audit.snapshot(refund, audited.REFUND)
        sent = Refund.objects.filter(pk=refund.pk, provider_refund_id__isnull=True).update(
            provider_refund_id=info.id, attempts=refund.attempts + 1, updated_at=timezone.now()
        )
        if sent:
            refund.refresh_from_db()
            audit.record(
                actor,
                "refund.sent",
                refund,
                before=before,
                after=audit.snapshot(refund, audited.REFUND),
                note=info.id,
            )
    if info.status in ("succeeded", "failed", "canceled"):
        confirm_card_refund(provider_refund_id=info.id, status=info.status)
    refund.refresh_from_db()
    return refund


def _refund_attempt_failed(refund: Refund, error: RailError) -> Refund:
    attempts = refund.attempts + 1
    before = audit.snapshot(refund, audited.REFUND)
    if error.permanent or attempts >= MAX_ATTEMPTS:
        with transaction.atomic():
            locked = Refund.objects.select_for_update().get(pk=refund.pk)
            if locked.status == Refund.Status.PENDING:
                _return_to_balance(locked, error.message)
        refund.refresh_from_db()
        return refund
    with transaction.atomic():
        Refund.objects.filter(pk=refund.pk).update(
            attempts=attempts,
            next_attempt_at=timezone.now() + timedelta(minutes=2**attempts),
            failure_message=error.message[:500],
            updated_at=timezone.now(),
        )
        refund.refresh_from_db()
        after = audit.snapshot(refund, audited.REFUND)
        audit.record(None, "refund.retry_scheduled", refund, before=before, after=after)
    return refund


def _return_to_balance(refund: Refund, message: str) -> None:
    """The card refund failed for good: the money stays in the client's balance."""
    ledger.move(
        source=ledger.external_account(Rail.CARD, refund.currency),
        destination=ledger.user_account(refund.client, Kind.AVAILABLE, refund.currency),
        amount=int(refund.amount),
        key=f"card-refund-back:{refund.pk}",
        memo="Card refund failed; kept in balance",
    )
    before = audit.snapshot(refund, audited.REFUND)
    refund.status = Refund.Status.FAILED
    refund.failure_message = (message or "The card refund failed.")[:500]
    refund.save(update_fields=["status", "failure_message", "updated_at"])
    audit.record(
        None,
        "refund.failed",
        refund,
        before=before,
        after=audit.snapshot(refund, audited.REFUND),
        note=refund.failure_message,
    )
    notify(
        refund.client_id,
        "refund_failed",
        "A card refund failed; the money is in your SmartPay balance",
        "/money/",
    )


def confirm_card_refund(*, provider_refund_id: str, status: str) -> Refund | None:
    """``charge.refunded`` (or the provider's answer): record the refund's outcome."""
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update().filter(provider_refund_id=provider_refund_id).first()
        )
        if refund is None:
            raise RefundNotYetKnown(f"Refund {provider_refund_id} is not recorded yet.")
        if refund.status != Refund.Status.PENDING:
            return refund
        if status == "succeeded":
            before = audit.snapshot(refund, audited.REFUND)
            refund.status = Refund.Status.SUCCEEDED
            refund.save(update_fields=["status", "updated_at"])
            audit.record(
                None,
                "refund.succeeded",
                refund,
                before=before,
                after=audit.snapshot(refund, audited.REFUND),
            )
        elif status in ("failed", "canceled"):
            _return_to_balance(refund, f"The card refund {status}.")
    return refund


def accept_lapsed_refund_requests(*, now: datetime | None = None) -> int:
    """Refund requests the freelancer left unanswered are accepted (DESIGN.md)."""
    now = now or timezone.now()
    done = 0
    lapsed = RefundRequest.objects.filter(status=RefundRequest.Status.OPEN, respond_by__lte=now)
    for refund_request in lapsed.order_by("pk"):
        with transaction.atomic(durable=True):
            contract, milestone = lock_milestone(refund_request.milestone_id)
            locked = RefundRequest.objects.select_for_update().get(pk=refund_request.pk)
            if locked.status != RefundRequest.Status.OPEN:
                continue
            if milestone.status != Milestone.Status.FUNDED or contract.status != "active":
                _close_request(locked, RefundRequest.Status.LAPSED, None)
                continue
            before = audit.snapshot(milestone, audited.MILESTONE)
            try:
                refund = refund_locked(milestone, contract=contract, actor=None, destination=None)
            except DomainError as error:  # frozen by a chargeback, say: try again later
                log.info("refund request %s waits: %s", locked.pk, error.detail)
                continue
            _audit_refund(None, milestone, before, refund)
            complete_contract_if_done(contract)
            done += 1
    return done


def retry_due_refunds(*, now: datetime | None = None) -> int:
    """Send card refunds whose earlier attempt failed or never ran (worker lost)."""
    now = now or timezone.now()
    due = Refund.objects.filter(
        status=Refund.Status.PENDING,
        provider_refund_id__isnull=True,
        created_at__lte=now - timedelta(minutes=1),
    ).exclude(next_attempt_at__gt=now)
    count = 0
    for refund_id in due.values_list("pk", flat=True):
        send_card_refund(refund_id=refund_id)
        count += 1
    return count
