"""Arbitration: an arbiter decides, a second arbiter confirms large cases, a party may
appeal once, and a decision that stands executes when its appeal window lapses.

First round: decide -> (confirming ->) decided, open to appeal for
``DISPUTE_APPEAL_DAYS`` -> executed by ``execute_due_decisions``.
Appeal round (another arbiter): decide -> (confirming ->) executed at once, final.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from disputes import selectors
from disputes.errors import AppealLate, AppealUsed, NotAssigned, OwnDecision, RationaleRequired
from disputes.models import Dispute, SettlementOffer
from disputes.services.assignment import assign_locked, auto_assign_locked, ensure_unconflicted
from disputes.services.common import (
    audit_log,
    case_url,
    clean_text,
    lock_dispute,
    notify,
    other_party,
    record,
    require_active,
    require_arbiter,
    share_text,
    state,
    tell_parties,
    valid_share,
    when,
)
from disputes.services.resolution import execute_split
from marketplace.models import Contract, Milestone, User
from notifications.services import notify as notify_user
from smartpay.errors import DomainError, InvalidTransition

log = logging.getLogger(__name__)

Status = Dispute.Status


def needs_second_arbiter(contract: Contract, dispute: Dispute) -> bool:
    """The amount in dispute is above ``DISPUTE_SECOND_ARBITER_ABOVE`` for its currency
    (a currency not listed never needs one)."""
    threshold = settings.DISPUTE_SECOND_ARBITER_ABOVE.get(contract.currency.lower())
    return threshold is not None and int(dispute.amount_in_dispute) > int(threshold)


def _agreed_share(dispute: Dispute) -> int | None:
    """The split both parties accepted (chain rail: it waits for an arbiter's key)."""
    return (
        SettlementOffer.objects.filter(dispute=dispute, status=SettlementOffer.Status.ACCEPTED)
        .order_by("-pk")
        .values_list("freelancer_share_bps", flat=True)
        .first()
    )


def _decision_text(dispute: Dispute) -> str:
    return f"{share_text(int(dispute.freelancer_share_bps or 0))}. Rationale: {dispute.rationale}"


def _clear_decision(dispute: Dispute) -> None:
    dispute.freelancer_share_bps = None
    dispute.rationale = ""
    dispute.decided_by = None
    dispute.decided_at = None
    dispute.second_arbiter = None
    dispute.appeal_due_at = None


def _stand(contract: Contract, milestone: Milestone, dispute: Dispute, actor: User) -> None:
    """The decision stands: final in the appeal round (executes now), else open to
    appeal until ``appeal_due_at``. Both parties get it with its rationale."""
    decider = dispute.decided_by
    if dispute.is_appeal:
        execute_split(
            contract,
            milestone,
            dispute,
            actor=actor,
            arbiter=decider,
            bps=int(dispute.freelancer_share_bps or 0),
            rationale=dispute.rationale,
            by_arbiter=True,
            announce=False,  # the parties get the decision with its rationale below
        )
        tell_parties(
            contract,
            dispute,
            "dispute_decided",
            f"Appeal decided: “{milestone.title}”",
            f"The appeal of the dispute on “{milestone.title}” was decided; this decision is "
            f"final and is carried out now.\n\n{_decision_text(dispute)}",
        )
        return
    dispute.status = Status.DECIDED
    dispute.appeal_due_at = timezone.now() + timedelta(days=settings.DISPUTE_APPEAL_DAYS)
    dispute.save()
    due = when(dispute.appeal_due_at)
    tell_parties(
        contract,
        dispute,
        "dispute_decided",
        f"Dispute decided: “{milestone.title}” (appeal by {due})",
        f"The arbiter decided the dispute on “{milestone.title}”.\n\n{_decision_text(dispute)}"
        f"\n\nEither party may appeal once, to another arbiter, until {due}; after that the "
        "decision is carried out.",
    )


def resolve_dispute(
    *, actor: User, dispute_id: int, freelancer_share_bps: int, rationale: str
) -> Dispute:
    """The case's arbiter (or, while nobody has it, an unconflicted arbiter who thereby
    takes it) decides the split with a rationale. Above the second-arbiter threshold the
    decision waits for confirmation; otherwise it stands (see ``_stand``). A split both
    parties accepted (chain rail) executes at once."""
    bps = valid_share(freelancer_share_bps)
    rationale = clean_text(rationale)
    if not rationale:
        raise RationaleRequired()
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id)
        require_arbiter(actor, contract)
        require_active(dispute)
        before = state(dispute)
        if dispute.arbiter_id is not None and dispute.arbiter_id != actor.pk:
            raise NotAssigned()
        ensure_unconflicted(actor, contract, dispute)
        if dispute.arbiter_id is None:
            assign_locked(contract, dispute, actor=actor, arbiter=actor, how=" (took the case)")
        dispute.freelancer_share_bps = bps
        dispute.rationale = rationale
        dispute.decided_by = actor
        dispute.decided_at = timezone.now()
        dispute.second_arbiter = None
        if _agreed_share(dispute) == bps:
            record(dispute, actor, "decided", f"The split both parties agreed: {share_text(bps)}.")
            execute_split(
                contract,
                milestone,
                dispute,
                actor=actor,
                bps=bps,
                rationale=rationale,
                by_arbiter=False,
            )
        elif needs_second_arbiter(contract, dispute):
            dispute.status = Status.CONFIRMING
            dispute.save()
            record(
                dispute,
                actor,
                "decided",
                f"{actor.display_name} decided {_decision_text(dispute)} A second arbiter "
                "confirms it (amount above the threshold).",
            )
            notify(
                dispute,
                [contract.client_id, contract.freelancer_id],
                "dispute_confirming",
                f"Dispute decided, waiting for a second arbiter: “{milestone.title}”",
            )
        else:
            record(
                dispute, actor, "decided", f"{actor.display_name} decided {_decision_text(dispute)}"
            )
            _stand(contract, milestone, dispute, actor)
        audit_log(actor, "decided", dispute, before, note=rationale)
    return dispute


def confirm_decision(*, actor: User, dispute_id: int, agree: bool, note: str = "") -> Dispute:
    """A second, unconflicted arbiter agrees (the decision stands, see ``_stand``) or
    disagrees with a note (the case goes back to its arbiter, decision cleared)."""
    note = clean_text(note, required=None if agree else "Say why you disagree.")
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id)
        require_arbiter(actor, contract)
        if dispute.status != Status.CONFIRMING:
            raise InvalidTransition(
                "Only a decision waiting for a second arbiter can be confirmed; this dispute is "
                f"{dispute.get_status_display().lower()}."
            )
        if actor.pk in (dispute.decided_by_id, dispute.arbiter_id):
            raise OwnDecision()
        ensure_unconflicted(actor, contract, dispute)
        before = state(dispute)
        if agree:
            dispute.second_arbiter = actor
            record(
                dispute,
                actor,
                "confirmed",
                f"{actor.display_name} confirmed the decision. {note}".strip(),
            )
            _stand(contract, milestone, dispute, actor)
            audit_log(actor, "confirmed", dispute, before, note=note)
        else:
            first = dispute.decided_by
            _clear_decision(dispute)
            dispute.status = Status.ESCALATED
            dispute.decision_due_at = timezone.now() + timedelta(
                days=settings.DISPUTE_DECISION_DAYS
            )
            dispute.save()
            record(
                dispute,
                actor,
                "confirmation_refused",
                f"{actor.display_name} did not confirm the decision: {note}",
            )
            if first is not None:
                notify_user(
                    first.pk,
                    "dispute_confirmation_refused",
                    f"A second arbiter did not confirm your decision on “{milestone.title}”",
                    case_url(dispute),
                )
            audit_log(actor, "confirmation_refused", dispute, before, note=note)
    return dispute


def appeal_decision(*, actor: User, dispute_id: int, reason: str) -> Dispute:
    """A party appeals a decision open to appeal, before ``appeal_due_at``, once per
    dispute. Another arbiter (nobody who decided or confirmed it) takes the case."""
    reason = clean_text(reason, required="Explain why you appeal the decision.")
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id, actor=actor)
        if dispute.appealed_at is not None:
            raise AppealUsed()
        if dispute.status != Status.DECIDED:
            raise InvalidTransition(
                "Only a decision open to appeal can be appealed; this dispute is "
                f"{dispute.get_status_display().lower()}."
            )
        now = timezone.now()
        assert dispute.appeal_due_at is not None  # a constraint of decided cases
        if now >= dispute.appeal_due_at:
            raise AppealLate(f"The appeal window closed on {when(dispute.appeal_due_at)}.")
        before = state(dispute)
        excluded = selectors.prior_deciders(dispute)
        if dispute.arbiter_id:
            excluded.add(dispute.arbiter_id)
        record(
            dispute,
            actor,
            "appealed",
            f"{actor.display_name} appealed the decision ({_decision_text(dispute)}): {reason}",
        )
        _clear_decision(dispute)
        dispute.status = Status.ESCALATED
        dispute.is_appeal = True
        dispute.appealed_by = actor
        dispute.appealed_at = now
        dispute.appeal_reason = reason
        dispute.arbiter = None
        dispute.assigned_at = None
        dispute.decision_due_at = None
        dispute.save()
        auto_assign_locked(contract, dispute, exclude=excluded)
        notify(
            dispute,
            [other_party(contract, actor)],
            "dispute_appealed",
            f"The decision on “{milestone.title}” was appealed",
        )
        audit_log(actor, "appealed", dispute, before, note=reason)
    return dispute


def execute_due_decisions(*, now: datetime | None = None) -> int:
    """Carry out each first-round decision whose appeal window lapsed unappealed;
    returns how many. For the periodic ``disputes.settle`` task; safe to run twice."""
    now = now or timezone.now()
    due = Dispute.objects.filter(status=Status.DECIDED, appeal_due_at__lte=now)
    executed = 0
    for dispute_id in due.order_by("pk").values_list("pk", flat=True):
        try:
            executed += _execute(dispute_id, now)
        except DomainError as error:  # one case's problem must not stop the others
            log.warning("dispute %s decision not executed: %s", dispute_id, error.detail)
    return executed


def _execute(dispute_id: int, now: datetime) -> int:
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id)
        if dispute.status != Status.DECIDED or dispute.appeal_due_at is None:
            return 0  # appealed or executed meanwhile (a twin run got here first)
        if dispute.appeal_due_at > now:
            return 0
        before = state(dispute)
        execute_split(
            contract,
            milestone,
            dispute,
            actor=None,
            arbiter=dispute.decided_by,
            bps=int(dispute.freelancer_share_bps or 0),
            rationale=dispute.rationale,
            by_arbiter=True,
        )
        audit_log(None, "executed", dispute, before, note="The appeal window lapsed.")
    return 1
