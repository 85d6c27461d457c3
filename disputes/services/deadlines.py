"""The response window: a reminder the day before it closes, then silence decides.

DESIGN.md: the other party has ``DISPUTE_RESPONSE_DAYS`` to respond; after a
reminder, silence resolves the dispute as its opener asked. The opener's side wins
the disputed milestone: a freelancer opener gets 100 %, a client opener gets the
whole escrow back (0 % to the freelancer). On the card rail the split executes
through ``execute_split``; on the chain rail only the arbiter key can move the
money, so the case escalates with the opener's ask for an arbiter to send.

The respondent always gets at least a day after the reminder: a reminder sent
late (a worker outage) moves the lapse to one day after it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from disputes.models import BPS, Dispute, DisputeEvent
from disputes.services.assignment import auto_assign_locked
from disputes.services.common import (
    audit_log,
    lock_dispute,
    notify,
    other_party,
    party_url,
    record,
    share_text,
    state,
)
from disputes.services.resolution import execute_split
from marketplace.models import Contract
from marketplace.money import Rail
from notifications.services import notify as notify_user
from smartpay import audit
from smartpay.errors import DomainError

log = logging.getLogger(__name__)

REMIND_BEFORE = timedelta(days=1)


def _when(moment: datetime) -> str:
    return f"{moment:%d %b %Y at %H:%M} UTC"


# --- the reminder -------------------------------------------------------------------------------


def remind_due_responses(*, now: datetime | None = None) -> int:
    """Remind the respondent of each open dispute whose response window closes within a
    day (once per dispute); returns how many reminders were sent."""
    now = now or timezone.now()
    due = Dispute.objects.filter(
        status=Dispute.Status.OPEN,
        reminded_at__isnull=True,
        response_due_at__lte=now + REMIND_BEFORE,
    )
    sent = 0
    for dispute_id in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            # The conditional update is the claim: a twin run changes no row and skips.
            claimed = Dispute.objects.filter(
                pk=dispute_id, status=Dispute.Status.OPEN, reminded_at__isnull=True
            ).update(reminded_at=now)
            if claimed != 1:
                continue
            dispute = Dispute.objects.select_related(
                "milestone__contract__client", "milestone__contract__freelancer", "opened_by"
            ).get(pk=dispute_id)
            _remind(dispute)
            audit.record(
                None,
                "dispute.reminded",
                dispute,
                before={"reminded_at": None},
                after=audit.snapshot(dispute, ["reminded_at"]),
            )
        sent += 1
    return sent


def _remind(dispute: Dispute) -> None:
    milestone = dispute.milestone
    contract = milestone.contract
    respondent = (
        contract.client if dispute.opened_by_id == contract.freelancer_id else contract.freelancer
    )
    asked = _ask_text(contract, dispute)
    when = _when(dispute.response_due_at)
    title = f"Respond to the dispute on “{milestone.title}” by {when}"
    detail = (
        f"{dispute.opened_by.display_name} opened a dispute on “{milestone.title}” "
        f"({dispute.get_reason_display().lower()}). Unless you respond by {when}, "
        f"the dispute is resolved as they asked: {asked}."
    )
    notify_user(
        respondent.pk,
        "dispute_reminder",
        title,
        party_url(dispute),
        target=dispute,
        data={"milestone": milestone.title, "due": when, "detail": detail},
    )
    record(
        dispute,
        None,
        DisputeEvent.Kind.REMINDED,
        f"{respondent.display_name} was reminded to respond by {when}; without a response "
        f"the dispute is resolved as {dispute.opened_by.display_name} asked ({asked}).",
    )


# --- silence decides ------------------------------------------------------------------------------


def _opener_share(contract: Contract, dispute: Dispute) -> int:
    return BPS if dispute.opened_by_id == contract.freelancer_id else 0


def _ask_text(contract: Contract, dispute: Dispute) -> str:
    if _opener_share(contract, dispute):
        return "the whole milestone is released to the freelancer"
    return "the whole escrow goes back to the client"


def settle_lapsed_disputes(*, now: datetime | None = None) -> int:
    """Resolve each open dispute nobody answered, after its reminder, as its opener
    asked (card rail) or escalate it (chain rail); returns how many were acted on."""
    now = now or timezone.now()
    due = Dispute.objects.filter(
        status=Dispute.Status.OPEN,
        response_due_at__lte=now,
        reminded_at__lte=now - REMIND_BEFORE,
    )
    acted = 0
    for dispute_id in due.order_by("pk").values_list("pk", flat=True):
        try:
            acted += _settle(dispute_id, now)
        except DomainError as error:  # one dispute's problem must not stop the others
            log.warning("dispute %s not resolved by silence: %s", dispute_id, error.detail)
    return acted


def _lapsed(dispute: Dispute, now: datetime) -> bool:
    return (
        dispute.status == Dispute.Status.OPEN
        and dispute.response_due_at <= now
        and dispute.reminded_at is not None
        and dispute.reminded_at <= now - REMIND_BEFORE
    )


def _settle(dispute_id: int, now: datetime) -> int:
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id)
        if not _lapsed(dispute, now):
            return 0  # answered, escalated or decided meanwhile (or a twin run got here first)
        before = state(dispute)
        opener = dispute.opened_by
        respondent_id = other_party(contract, opener)
        respondent = (
            contract.client if respondent_id == contract.client_id else (contract.freelancer)
        )
        bps = _opener_share(contract, dispute)
        silence = (
            f"Resolved by silence: {respondent.display_name} did not respond by "
            f"{_when(dispute.response_due_at)}, so the dispute is resolved as "
            f"{opener.display_name}, who opened it, asked ({share_text(bps)})."
        )
        if contract.rail == Rail.CHAIN:
            # Only the platform's arbiter key may send ``resolve``: an arbiter sends the ask.
            dispute.freelancer_share_bps = bps
            dispute.status = Dispute.Status.ESCALATED
            dispute.save(update_fields=["freelancer_share_bps", "status", "updated_at"])
            record(
                dispute,
                None,
                "escalated",
                f"{respondent.display_name} did not respond by "
                f"{_when(dispute.response_due_at)}; silence resolves the dispute as "
                f"{opener.display_name} asked ({share_text(bps)}). On the chain rail an "
                "arbiter sends that split to the escrow contract.",
            )
            notify(
                dispute,
                [contract.client_id, contract.freelancer_id],
                "dispute_escalated",
                "The dispute went to arbitration",
            )
            if dispute.arbiter_id is None:
                auto_assign_locked(contract, dispute)
        else:
            # No person decided: like auto-release, the platform acts (actor None).
            execute_split(
                contract,
                milestone,
                dispute,
                actor=None,
                bps=bps,
                rationale=silence,
                by_arbiter=True,
            )
        audit_log(None, "lapsed", dispute, before, note="No response by the deadline.")
    return 1
