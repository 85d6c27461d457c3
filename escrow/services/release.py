"""Approve and release: escrow -> freelancer (pending for the payout hold), the
platform fee -> fees, any unreleased remainder -> the client's balance.

Also the settlement steps around it: auto-release after the review window,
reminders before it, and pending -> available after the hold.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from escrow import ledger
from escrow.models import LedgerAccount, Release, ReviewReminder
from escrow.services import audited
from escrow.services.holds import ensure_not_frozen, is_frozen
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
from smartpay.errors import DomainError, InvalidTransition

log = logging.getLogger(__name__)
Kind = LedgerAccount.Kind
REMINDER_DAYS = (3, 1)


def fee_for(amount: int, fee_bps: int) -> int:
    """The platform's fee on a release, rounded down: a fraction of a cent stays
    with the freelancer."""
    return amount * fee_bps // 10_000


def approve_milestone(*, actor: User, milestone_id: int, amount: int | None = None) -> Release:
    """The client accepts submitted work and releases ``amount`` (default: all of it)."""
    with transaction.atomic(durable=True):
        contract, milestone = lock_milestone(milestone_id, actor=actor, role="client")
        require_active_card_contract(contract)
        if milestone.status != Milestone.Status.SUBMITTED:
            raise InvalidTransition(
                f"Only submitted work can be approved; this milestone is "
                f"{milestone.get_status_display().lower()}.",
            )
        before = audit.snapshot(milestone, audited.MILESTONE)
        release = release_locked(
            milestone, contract=contract, actor=actor, amount=amount, note="Approved by the client"
        )
        _audit_release(actor, milestone, before, release)
        complete_contract_if_done(contract)
    return release


def release_locked(
    milestone: Milestone,
    *,
    contract: Contract,
    actor: User | None,
    amount: int | None,
    note: str,
    to_status: str = Milestone.Status.RELEASED,
) -> Release:
    """Pay out a milestone's escrow; the caller holds the contract and milestone locks.

    Disputes call this with ``to_status=RESOLVED`` and the arbiter's split.
    """
    ensure_not_frozen(milestone)
    escrow = ledger.escrow_account(milestone)
    pending = ledger.user_account(contract.freelancer, Kind.PENDING, contract.currency)
    available = ledger.user_account(contract.client, Kind.AVAILABLE, contract.currency)
    # The parties' accounts now; the fee account, which every release shares, last.
    held = int(ledger.lock_accounts(escrow, pending, available)[escrow.pk].balance)
    amount = held if amount is None else amount
    if isinstance(amount, bool) or int(amount) != amount or not 0 < amount <= held:
        raise DomainError(
            f"Release between {format_amount(1, contract.currency)} and "
            f"{format_amount(held, contract.currency)}.",
            code="invalid_release_amount",
        )
    amount = int(amount)
    fee = fee_for(amount, contract.fee_bps)
    share, remainder = amount - fee, held - amount
    _pay_out(milestone, escrow, [(pending, share, "release"), (available, remainder, "return")])
    release = Release.objects.create(
        milestone=milestone,
        freelancer=contract.freelancer,
        released_by=actor,
        currency=contract.currency,
        amount=amount,
        fee=fee,
        fee_bps=contract.fee_bps,
        freelancer_amount=share,
        returned_amount=remainder,
        available_at=timezone.now() + timedelta(days=settings.PAYOUT_HOLD_DAYS),
    )
    lifecycle.transition_milestone(milestone, to_status, actor=actor, note=note)
    _announce_release(contract, milestone, release, actor)
    # Last of all: every release shares the fee account, so its row lock is taken
    # as late as possible and held only until the commit.
    _pay_out(milestone, escrow, [(ledger.fee_account(contract.currency), fee, "fee")])
    return release


def _audit_release(
    actor: User | None, milestone: Milestone, before: audit.Snapshot, release: Release
) -> None:
    after = audit.snapshot(milestone, audited.MILESTONE)
    after["release"] = audit.snapshot(release, audited.RELEASE)
    audit.record(actor, "milestone.released", milestone, before=before, after=after)


def _pay_out(
    milestone: Milestone, escrow: LedgerAccount, parts: list[tuple[LedgerAccount, int, str]]
) -> None:
    for destination, part, label in parts:
        if part:
            ledger.move(
                source=escrow,
                destination=destination,
                amount=part,
                key=f"{label}:{milestone.pk}",
                memo=f"{label.capitalize()} of “{milestone.title}”",
            )


def _announce_release(
    contract: Contract, milestone: Milestone, release: Release, actor: User | None
) -> None:
    cur = contract.currency
    who = actor.display_name if actor else "The review window ended and SmartPay"
    summary = (
        f"{who} released {format_amount(int(release.amount), cur)} for “{milestone.title}”: "
        f"{format_amount(int(release.freelancer_amount), cur)} to the freelancer "
        f"(available {release.available_at:%d %b %Y}), fee {format_amount(int(release.fee), cur)}"
    )
    if release.returned_amount:
        summary += f", {format_amount(int(release.returned_amount), cur)} back to the client"
    record_activity(contract, actor, "milestone_released", summary + ".")
    for user_id in (contract.freelancer_id, contract.client_id):
        notify(
            user_id,
            "payment_released",
            f"Payment released: {milestone.title}",
            workroom_url(contract),
        )


def _due_for_release(now: datetime) -> list[int]:
    return list(
        Milestone.objects.filter(
            status=Milestone.Status.SUBMITTED,
            review_deadline__lte=now,
            contract__rail=Rail.CARD,
            contract__status=Contract.Status.ACTIVE,
        ).values_list("pk", flat=True)
    )


def auto_release_due(*, now: datetime | None = None) -> int:
    """Release submitted milestones whose review window ran out; returns how many."""
    now = now or timezone.now()
    released = 0
    for milestone_id in _due_for_release(now):
        try:
            released += _auto_release(milestone_id, now)
        except DomainError as error:  # one milestone's problem must not stop the others
            log.warning("auto-release of milestone %s skipped: %s", milestone_id, error.detail)
    return released


def _auto_release(milestone_id: int, now: datetime) -> int:
    with transaction.atomic(durable=True):
        contract, milestone = lock_milestone(milestone_id)
        due = milestone.review_deadline is not None and milestone.review_deadline <= now
        if milestone.status != Milestone.Status.SUBMITTED or not due or is_frozen(milestone):
            return 0
        before = audit.snapshot(milestone, audited.MILESTONE)
        release = release_locked(
            milestone,
            contract=contract,
            actor=None,
            amount=None,
            note=f"Released automatically after {settings.ESCROW_REVIEW_DAYS} days",
        )
        _audit_release(None, milestone, before, release)
        complete_contract_if_done(contract)
    return 1


def send_review_reminders(*, now: datetime | None = None) -> int:
    """Tell clients 3 days and 1 day before submitted work is released automatically."""
    now = now or timezone.now()
    sent = 0
    for days in REMINDER_DAYS:
        due = Milestone.objects.filter(
            status=Milestone.Status.SUBMITTED,
            contract__rail=Rail.CARD,
            review_deadline__gt=now,
            review_deadline__lte=now + timedelta(days=days),
        ).select_related("contract__client")
        for milestone in due:
            assert milestone.review_deadline is not None
            try:
                with transaction.atomic():
                    ReviewReminder.objects.create(
                        milestone=milestone, days_before=days, deadline=milestone.review_deadline
                    )
                    _remind(milestone, days)
            except IntegrityError:
                continue  # sent already for this review window
            sent += 1
    return sent


def _remind(milestone: Milestone, days: int) -> None:
    contract = milestone.contract
    when = milestone.review_deadline
    title = f"Review “{milestone.title}”: released automatically in {days} day(s)"
    amount = format_amount(int(milestone.amount), contract.currency)
    detail = (
        f"{contract.freelancer.display_name} submitted work on “{milestone.title}”. "
        f"Unless you approve it, ask for a revision or open a dispute, {amount} is released "
        f"to them on {when:%d %b %Y at %H:%M} UTC."
    )
    data = {
        "milestone": milestone.title,
        "amount": amount,
        "releases_on": f"{when:%d %b %Y at %H:%M} UTC",
        "detail": detail,
    }
    notify(
        contract.client_id,
        "approval_reminder",
        title,
        workroom_url(contract),
        target=milestone,
        data=data,
    )


def make_releases_available(*, now: datetime | None = None) -> int:
    """Move released money from pending to available once the payout hold is over."""
    now = now or timezone.now()
    moved = 0
    due = Release.objects.filter(status=Release.Status.PENDING, available_at__lte=now)
    for release in due.select_related("freelancer").order_by("pk"):
        with transaction.atomic(durable=True):
            # The conditional update is the claim: a twin run changes no row and skips.
            claimed = Release.objects.filter(pk=release.pk, status=Release.Status.PENDING).update(
                status=Release.Status.AVAILABLE
            )
            if claimed != 1:
                continue
            status = {"status": Release.Status.PENDING}
            audit.record(
                None,
                "release.available",
                release,
                before=status,
                after={"status": Release.Status.AVAILABLE},
            )
            if release.freelancer_amount:
                freelancer = release.freelancer
                ledger.move(
                    source=ledger.user_account(freelancer, Kind.PENDING, release.currency),
                    destination=ledger.user_account(freelancer, Kind.AVAILABLE, release.currency),
                    amount=int(release.freelancer_amount),
                    key=f"mature:{release.pk}",
                    memo="Payout hold over",
                )
                notify(
                    freelancer.pk,
                    "funds_available",
                    f"{format_amount(int(release.freelancer_amount), release.currency)} "
                    "is available to pay out",
                    "/money/",
                )
            moved += 1
    return moved
