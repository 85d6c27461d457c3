"""What the case page shows: contract, milestone, submissions with digests, evidence,
the contract's activity, the escrow's ledger lines, the timeline and the arbiters who
may take the case. Reads only; a fixed number of queries per page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.urls import reverse

from disputes import selectors
from disputes.models import Dispute
from escrow.models import LedgerAccount, Transfer
from marketplace.models import Contract, ContractActivity, Milestone, Submission, User
from marketplace.money import format_amount

ACTIVITY_SHOWN = 200
TRANSFERS_SHOWN = 200


@dataclass(frozen=True)
class LedgerLine:
    transfer: Transfer
    direction: str  # "in" or "out" of the escrow
    other: str
    shown: str


@dataclass(frozen=True)
class ArbiterChoice:
    user: User
    load: int
    conflict: str | None


def escrow_of(milestone: Milestone) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(kind=LedgerAccount.Kind.ESCROW, milestone=milestone).first()


def account_in_words(account: LedgerAccount) -> str:
    if account.kind == LedgerAccount.Kind.ESCROW:
        return f"escrow of milestone {account.milestone_id}"
    if account.kind == LedgerAccount.Kind.EXTERNAL:
        return f"outside ({account.get_rail_display() or account.rail})"
    if account.kind == LedgerAccount.Kind.FEES:
        return "platform fees"
    who = account.owner.email if account.owner else "?"
    return f"{who} ({account.get_kind_display().lower()})"


def ledger_lines(escrow: LedgerAccount | None) -> list[LedgerLine]:
    """Every transfer into or out of the milestone's escrow, oldest first."""
    if escrow is None:
        return []
    transfers = (
        Transfer.objects.filter(Q(source=escrow) | Q(destination=escrow))
        .select_related("source__owner", "destination__owner")
        .order_by("created_at", "pk")[:TRANSFERS_SHOWN]
    )
    lines = []
    for transfer in transfers:
        into = transfer.destination_id == escrow.pk
        other = transfer.source if into else transfer.destination
        lines.append(
            LedgerLine(
                transfer=transfer,
                direction="in" if into else "out",
                other=account_in_words(other),
                shown=format_amount(int(transfer.amount), transfer.currency),
            )
        )
    return lines


def submissions(milestone: Milestone) -> list[Submission]:
    return list(
        milestone.submissions.select_related("submitted_by")
        .prefetch_related("files")
        .order_by("number")
    )


def evidence_rows(dispute: Dispute) -> list[dict[str, Any]]:
    rows = []
    for item in dispute.evidence.select_related("submitted_by").order_by("created_at", "pk"):
        link = ""
        if item.file:
            link = reverse("dispute-evidence-file", args=[dispute.pk, item.pk])
        rows.append({"item": item, "link": link})
    return rows


def activity(contract: Contract) -> list[ContractActivity]:
    return list(
        contract.activity.select_related("actor").order_by("created_at", "pk")[:ACTIVITY_SHOWN]
    )


def arbiter_choices(dispute: Dispute, contract: Contract) -> list[ArbiterChoice]:
    """Every arbiter with their load, and why they may not take this case (if so):
    a conflict with the parties, or having decided it before (an appeal goes elsewhere)."""
    barred = selectors.conflicted_user_ids(contract)
    earlier = selectors.prior_deciders(dispute) if dispute.is_appeal else set()
    choices = []
    for arbiter in selectors.arbiters_by_load():
        reason = None
        if arbiter.pk in barred:
            reason = selectors.conflict_reason(arbiter, contract)
        elif arbiter.pk in earlier:
            reason = f"{arbiter.display_name} decided this case before its appeal."
        choices.append(ArbiterChoice(arbiter, int(getattr(arbiter, "load", 0)), reason))
    return choices


def deadline_of(dispute: Dispute) -> tuple[str, Any]:
    """The deadline that matters in the case's state, in words."""
    status = dispute.status
    if status == Dispute.Status.OPEN:
        return "Response due", dispute.response_due_at
    if status in Dispute.ARBITRATING:
        return "Decision due", dispute.decision_due_at
    if status == Dispute.Status.DECIDED:
        return "Appeal window closes", dispute.appeal_due_at
    return "", None
