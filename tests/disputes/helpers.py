"""Dispute test helpers: a funded card milestone, arbiters, money snapshots."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from disputes.models import Dispute
from disputes.services import open_dispute
from escrow.models import Transfer
from marketplace.models import ARBITERS_GROUP, Contract, Milestone, User
from tests.escrow.money import balance, card_contract, escrow_of, fees, first_milestone, fund
from tests.factories import verified_user


def make_arbiter() -> User:
    user = verified_user(is_staff=True, is_client=False)
    group, _ = Group.objects.get_or_create(name=ARBITERS_GROUP)
    group.permissions.add(Permission.objects.get(codename="resolve_disputes"))
    user.groups.add(group)
    return User.objects.get(pk=user.pk)  # permissions are cached per instance


def funded_milestone(amounts: tuple[int, ...] = (100_000,)) -> tuple[Contract, Milestone]:
    contract = card_contract(amounts)
    return contract, fund(first_milestone(contract))


def overdue_dispute() -> Dispute:
    """A client's dispute whose response deadline passed two hours ago."""
    contract, milestone = funded_milestone((150_000,))
    dispute = open_dispute(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason="unresponsive",
        description="No answer for three weeks.",
    )
    Dispute.objects.filter(pk=dispute.pk).update(
        response_due_at=timezone.now() - timedelta(hours=2)
    )
    return dispute


def money(contract: Contract, milestone: Milestone) -> dict[str, int]:
    """Every balance a dispute's decision can touch."""
    return {
        "client": balance(contract.client),
        "freelancer_pending": balance(contract.freelancer, "pending"),
        "escrow": escrow_of(milestone),
        "fees": fees(),
        "transfers": Transfer.objects.count(),
    }


def lapse_appeal_window(dispute: Dispute) -> int:
    """Move a decided case's appeal deadline into the past and run the periodic step
    that carries out unappealed decisions; returns how many it executed."""
    from disputes.services import execute_due_decisions

    Dispute.objects.filter(pk=dispute.pk).update(
        appeal_due_at=timezone.now() - timedelta(seconds=1)
    )
    return execute_due_decisions()


def worked_together(client: User, freelancer: User) -> Contract:
    """Another contract between ``client`` and ``freelancer`` (a conflict of interest
    for either of them arbitrating the other's disputes)."""
    from tests.factories import make_contract, make_job, make_proposal

    return make_contract(make_proposal(make_job(client), freelancer, amounts=(10_000,)))


def decide(
    arbiter: User, dispute: Dispute, bps: int = 7_000, rationale: str = "Most done."
) -> None:
    from disputes.services import resolve_dispute

    resolve_dispute(
        actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=bps, rationale=rationale
    )
    dispute.refresh_from_db()


def opened_dispute(contract: Contract, milestone: Milestone, *, escalate: bool = True) -> Dispute:
    """The client disputes ``milestone``; with ``escalate`` it goes to arbitration (and
    to the least loaded arbiter, when there is one)."""
    from disputes.services import escalate_dispute, open_dispute

    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    if escalate:
        escalate_dispute(actor=contract.client, dispute_id=dispute.pk)
    dispute.refresh_from_db()
    return dispute
