"""Row locks for escrow services, always in one order so two services can't
deadlock: contract -> milestone(s) by pk -> escrow rows -> ledger accounts by pk
(``escrow.ledger.move`` takes the last)."""

from __future__ import annotations

from collections.abc import Iterable

from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail
from marketplace.services.contracts import visible_contracts
from smartpay.errors import Conflict, NotAllowed, NotFoundError


def lock_milestone(
    milestone_id: int, *, actor: User | None = None, role: str | None = None
) -> tuple[Contract, Milestone]:
    """Lock a milestone and its contract. With ``actor``, a stranger gets a 404 and
    the wrong party (``role`` "client" or "freelancer") a 403."""
    scope = Milestone.objects.all()
    if actor is not None:
        scope = scope.filter(contract__in=visible_contracts(actor))
    contract_id = scope.filter(pk=milestone_id).values_list("contract_id", flat=True).first()
    if contract_id is None:
        raise NotFoundError("No such milestone.")
    contract = (
        Contract.objects.select_for_update(of=("self",))
        .select_related("client", "freelancer")
        .get(pk=contract_id)
    )
    if actor is not None and role is not None and getattr(contract, f"{role}_id") != actor.pk:
        raise NotAllowed(f"Only the {role} may do that.")
    return contract, Milestone.objects.select_for_update().get(pk=milestone_id)


def lock_milestones(contract: Contract, milestone_ids: Iterable[int]) -> list[Milestone]:
    ids = sorted(set(milestone_ids))
    milestones = list(
        Milestone.objects.select_for_update().filter(contract=contract, pk__in=ids).order_by("pk")
    )
    if len(milestones) != len(ids):
        raise NotFoundError("No such milestone on this contract.")
    return milestones


def require_active_card_contract(contract: Contract) -> None:
    if contract.status != Contract.Status.ACTIVE:
        raise Conflict("The contract is not active.", code="contract_not_active")
    if contract.rail != Rail.CARD:
        raise Conflict(
            "This contract is paid on the chain rail: use its wallet transactions.",
            code="wrong_rail",
        )
