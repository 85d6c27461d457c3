"""Helpers for the wallet-flow tests: act through the API, send what it hands out from
the party's anvil account, and stand in for chain sync where a test needs SmartPay's
state to have caught up (sync itself is tested in test_sync*.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework.test import APIClient
from web3 import Web3

from escrow.models import ChainEscrow
from marketplace import lifecycle
from marketplace.models import Contract, Milestone, User
from tests.chain.conftest import ETH
from tests.chain.rail import ChainRail


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"code", "detail"}, body
    return response.status_code, body["code"]


def milestones(contract: Contract) -> list[Milestone]:
    return list(contract.milestones.order_by("position"))


def send_all(rail: ChainRail, body: dict[str, Any], sender: str) -> list[Any]:
    """Send every transaction of an answer, in order, as ``sender``'s wallet would."""
    assert body["rail"] == "chain", body
    receipts = []
    for tx in body["transactions"]:
        assert tx["from"] == sender, (tx["from"], sender)
        receipts.append(rail.send(tx, sender))
    return receipts


def accept_escrow(rail: ChainRail, contract: Contract) -> ChainEscrow:
    """What chain sync does with a matching ``EscrowCreated``: the escrow is created and
    names the parties' wallets."""
    escrow = ChainEscrow.objects.get(contract=contract)
    escrow.status = ChainEscrow.Status.CREATED
    escrow.client_address = rail.accounts.client
    escrow.freelancer_address = rail.accounts.freelancer
    escrow.created_block = rail.w3.eth.block_number
    escrow.save()
    return escrow


def mark(milestone: Milestone, *statuses: str) -> Milestone:
    """Move a milestone as chain sync would after the matching events."""
    with transaction.atomic():
        locked = Milestone.objects.select_for_update().get(pk=milestone.pk)
        for status in statuses:
            lifecycle.transition_milestone(locked, status, actor=None, note="synced")
    milestone.refresh_from_db()
    return milestone


def token_of(rail: ChainRail, contract: Contract) -> str:
    return ETH if contract.currency == "eth" else rail.token.address


def fund_on_chain(rail: ChainRail, contract: Contract, milestone: Milestone) -> Milestone:
    """Fund through the API from the client's wallet; sync caught up afterwards."""
    total = sum(int(m.amount) for m in milestones(contract))
    if contract.currency == "usdc":
        rail.mint(rail.accounts.client, total)
    response = api_for(contract.client).post(f"/api/v1/milestones/{milestone.pk}/fund/")
    assert response.status_code == 200, response.json()
    send_all(rail, response.json(), rail.accounts.client)
    if ChainEscrow.objects.get(contract=contract).status != ChainEscrow.Status.CREATED:
        accept_escrow(rail, contract)
    return mark(milestone, Milestone.Status.FUNDED)


def submit_on_chain(rail: ChainRail, milestone: Milestone, message: str = "Done.") -> Milestone:
    contract = milestone.contract
    response = api_for(contract.freelancer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/", {"message": message}, format="json"
    )
    assert response.status_code == 200, response.json()
    send_all(rail, response.json(), rail.accounts.freelancer)
    return mark(milestone, Milestone.Status.SUBMITTED)


def onchain_id(contract: Contract) -> int:
    return int(ChainEscrow.objects.get(contract=contract).onchain_id)


def chain_status(rail: ChainRail, contract: Contract, index: int) -> str:
    return rail.chain.status(onchain_id(contract), index)


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)
