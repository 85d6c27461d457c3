"""Unsigned transactions for the parties' own wallets: calldata, no node needed.

Clients and freelancers sign their own transactions (DESIGN.md, Chain rail): the API
hands these dicts to third-party apps, and the workroom's script passes them to the
browser wallet. Each is ``{"to", "data", "value", "chainId", "from", "description"}``:
addresses checksummed, ``data`` 0x-hex calldata, ``value`` wei as a decimal string
(JSON numbers lose precision past 2**53), ``description`` says in words what it does.
Nothing here validates business rules; ``escrow.services.chain_actions`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from web3 import Web3
from web3.contract import Contract

from escrow.chain.build import load_artifact

UnsignedTransaction = dict[str, Any]

ESCROW_ABI = "MilestoneEscrow"
ERC20_ABI = "TestToken"  # a superset of ERC-20's ABI


@cache
def _encoder(name: str) -> type[Contract]:
    # A contract class without an address or provider: it only encodes calldata.
    return Web3().eth.contract(abi=load_artifact(name)["abi"])


def _tx(
    *,
    to: str,
    data: str,
    chain_id: int,
    sender: str,
    description: str,
    value: int = 0,
) -> UnsignedTransaction:
    return {
        "to": Web3.to_checksum_address(to),
        "data": data,
        "value": str(int(value)),
        "chainId": int(chain_id),
        "from": Web3.to_checksum_address(sender),
        "description": description,
    }


def _escrow_call(
    escrow: str,
    function: str,
    args: Sequence[Any],
    *,
    chain_id: int,
    sender: str,
    description: str,
    value: int = 0,
) -> UnsignedTransaction:
    data = _encoder(ESCROW_ABI).encode_abi(function, args=list(args))
    return _tx(
        to=escrow, data=data, chain_id=chain_id, sender=sender, description=description, value=value
    )


def create_escrow(
    escrow: str,
    *,
    chain_id: int,
    sender: str,
    onchain_id: int,
    freelancer: str,
    arbiter: str,
    token: str,
    treasury: str,
    amounts: Sequence[int],
    review_period: int,
    fee_bps: int,
    description: str,
) -> UnsignedTransaction:
    """``createEscrow``: the client opens the escrow with the contract's fixed terms."""
    args = [
        int(onchain_id),
        Web3.to_checksum_address(freelancer),
        Web3.to_checksum_address(arbiter),
        Web3.to_checksum_address(token),
        Web3.to_checksum_address(treasury),
        [int(amount) for amount in amounts],
        int(review_period),
        int(fee_bps),
    ]
    return _escrow_call(
        escrow, "createEscrow", args, chain_id=chain_id, sender=sender, description=description
    )


def approve_token(
    token: str, *, spender: str, amount: int, chain_id: int, sender: str, description: str
) -> UnsignedTransaction:
    """ERC-20 ``approve``: let the escrow contract pull ``amount`` when funding."""
    data = _encoder(ERC20_ABI).encode_abi(
        "approve", args=[Web3.to_checksum_address(spender), int(amount)]
    )
    return _tx(to=token, data=data, chain_id=chain_id, sender=sender, description=description)


def fund(
    escrow: str,
    *,
    onchain_id: int,
    index: int,
    value: int,
    chain_id: int,
    sender: str,
    description: str,
) -> UnsignedTransaction:
    """``fund``: ``value`` is the milestone's amount for ETH and 0 for an ERC-20."""
    return _escrow_call(
        escrow,
        "fund",
        [int(onchain_id), int(index)],
        chain_id=chain_id,
        sender=sender,
        description=description,
        value=value,
    )


def submit(
    escrow: str,
    *,
    onchain_id: int,
    index: int,
    digest: bytes,
    chain_id: int,
    sender: str,
    description: str,
) -> UnsignedTransaction:
    """``submit``: the freelancer anchors the deliverable's 32-byte digest."""
    if len(digest) != 32:
        raise ValueError("A deliverable digest is 32 bytes.")
    return _escrow_call(
        escrow,
        "submit",
        [int(onchain_id), int(index), digest],
        chain_id=chain_id,
        sender=sender,
        description=description,
    )


def _milestone_tx(
    function: str, escrow: str, onchain_id: int, index: int, chain_id: int, sender: str, text: str
) -> UnsignedTransaction:
    return _escrow_call(
        escrow,
        function,
        [int(onchain_id), int(index)],
        chain_id=chain_id,
        sender=sender,
        description=text,
    )


def request_revision(
    escrow: str, *, onchain_id: int, index: int, chain_id: int, sender: str, description: str
) -> UnsignedTransaction:
    """``requestRevision``: the client sends submitted work back."""
    return _milestone_tx(
        "requestRevision", escrow, onchain_id, index, chain_id, sender, description
    )


def request_refund(
    escrow: str, *, onchain_id: int, index: int, chain_id: int, sender: str, description: str
) -> UnsignedTransaction:
    """``requestRefund``: the client asks the freelancer to refund a funded milestone."""
    return _milestone_tx("requestRefund", escrow, onchain_id, index, chain_id, sender, description)


def refund(
    escrow: str, *, onchain_id: int, index: int, chain_id: int, sender: str, description: str
) -> UnsignedTransaction:
    """``refund``: the freelancer credits the whole milestone back to the client."""
    return _milestone_tx("refund", escrow, onchain_id, index, chain_id, sender, description)


def dispute(
    escrow: str, *, onchain_id: int, index: int, chain_id: int, sender: str, description: str
) -> UnsignedTransaction:
    """``dispute``: either party locks the milestone until the arbiter resolves it."""
    return _milestone_tx("dispute", escrow, onchain_id, index, chain_id, sender, description)


def release(
    escrow: str,
    *,
    onchain_id: int,
    index: int,
    amount: int,
    chain_id: int,
    sender: str,
    description: str,
) -> UnsignedTransaction:
    """``release``: the client pays ``amount`` (fee included); the rest goes back to them."""
    return _escrow_call(
        escrow,
        "release",
        [int(onchain_id), int(index), int(amount)],
        chain_id=chain_id,
        sender=sender,
        description=description,
    )


def withdraw(
    escrow: str, *, token: str, to: str, chain_id: int, sender: str, description: str
) -> UnsignedTransaction:
    """``withdraw``: pay the sender's whole credit in ``token`` to ``to``."""
    return _escrow_call(
        escrow,
        "withdraw",
        [Web3.to_checksum_address(token), Web3.to_checksum_address(to)],
        chain_id=chain_id,
        sender=sender,
        description=description,
    )
