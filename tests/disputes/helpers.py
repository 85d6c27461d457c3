"""Dispute test helpers: a funded card milestone, arbiters, money snapshots."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

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


def money(contract: Contract, milestone: Milestone) -> dict[str, int]:
    """Every balance a dispute's decision can touch."""
    return {
        "client": balance(contract.client),
        "freelancer_pending": balance(contract.freelancer, "pending"),
        "escrow": escrow_of(milestone),
        "fees": fees(),
        "transfers": Transfer.objects.count(),
    }
