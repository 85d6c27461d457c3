"""Row locks for escrow services, always in one order so two services can't
deadlock: contract -> milestone(s) by pk -> escrow rows -> ledger accounts
(``escrow.ledger.lock_accounts``). One milestone and its contract are locked by
``marketplace.services.contracts.lock_milestone``, which marketplace uses too."""

from __future__ import annotations

from collections.abc import Iterable

from marketplace.models import Contract, Milestone
from marketplace.money import Rail
from smartpay.errors import Conflict, NotFoundError


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
