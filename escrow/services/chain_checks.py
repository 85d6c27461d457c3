"""Checks shared by the chain rail's wallet actions (``escrow.services.chain_actions``).

The actions never change a milestone or move money: they check that the action makes
sense now, and read the escrow contract so a transaction that would surely revert is
refused here with a clear error instead of in the user's wallet. Nothing here holds a
row lock while it talks to the node (STYLE.md: never call a node inside a lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.urls import reverse
from web3 import Web3
from web3.contract import Contract as Web3Contract
from web3.exceptions import ContractLogicError, Web3Exception

from escrow.chain import node
from escrow.chain.transactions import UnsignedTransaction
from escrow.models import ChainEscrow
from marketplace.models import Contract, Milestone, User, Wallet
from marketplace.money import Rail
from marketplace.selectors.contracts import milestones_for
from marketplace.services.milestones import MAX_MESSAGE_CHARS
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed, NotFoundError

T = TypeVar("T")

# MilestoneEscrow.Status, in the contract's enum order.
CHAIN_STATUSES = ("Unfunded", "Funded", "Submitted", "Released", "Refunded", "Disputed", "Resolved")
CHAIN_STATUS_WORDS = {
    "Unfunded": "not funded",
    "Funded": "funded",
    "Submitted": "submitted",
    "Released": "released",
    "Refunded": "refunded",
    "Disputed": "in dispute",
    "Resolved": "resolved",
}


@dataclass(frozen=True)
class OnChainMilestone:
    amount: int
    status: str  # one of CHAIN_STATUSES
    refund_requested: bool


@dataclass(frozen=True)
class OnChainEscrow:
    client: str
    freelancer: str
    arbiter: str
    token: str
    treasury: str
    review_period: int
    fee_bps: int
    milestones: list[OnChainMilestone]


# --- input ----------------------------------------------------------------------------


def check_chain_id(chain_id: int | None) -> None:
    """A caller that says which chain it signs for must mean ours."""
    if chain_id is not None and int(chain_id) != int(settings.CHAIN_ID):
        raise DomainError(
            f"SmartPay's escrow runs on chain {settings.CHAIN_ID}, not {chain_id}: "
            "switch your wallet to that network.",
            code="wrong_chain",
        )


def checksummed(address: str, what: str = "address") -> str:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise DomainError(f"The {what} is not an Ethereum address.", code="invalid_address")
    return Web3.to_checksum_address(address)


def check_sender(given: str | None, allowed: Iterable[str], expected_detail: str) -> None:
    """``given`` (the caller's ``from``), if any, must be one of ``allowed``."""
    if given is None or given == "":
        return
    address = checksummed(given, "`from` address")
    if address not in {Web3.to_checksum_address(a) for a in allowed}:
        raise Conflict(
            f"{address} cannot send this transaction: {expected_detail}", code="wallet_mismatch"
        )


def wallet_link_hint() -> str:
    return f"link one with Sign-In with Ethereum on {reverse('wallets')}"


def linked_wallets(user: User) -> list[str]:
    """The user's verified wallet addresses, primary first."""
    return [
        Web3.to_checksum_address(address)
        for address in Wallet.objects.filter(user=user)
        .order_by("-is_primary", "created_at", "pk")
        .values_list("address", flat=True)
    ]


# --- contract, milestone, escrow -------------------------------------------------------


def require_chain_contract(contract: Contract) -> None:
    if contract.rail != Rail.CHAIN:
        raise Conflict(
            "This contract is paid by card: use the card payment endpoints.", code="wrong_rail"
        )
    if contract.status != Contract.Status.ACTIVE:
        raise Conflict("The contract is not active.", code="contract_not_active")


def role_of(actor: User, contract: Contract, allowed: tuple[str, ...]) -> str:
    role = "client" if contract.client_id == actor.pk else "freelancer"
    if role not in allowed:
        raise NotAllowed(f"Only the {allowed[0]} may do that.")
    return role


def party_milestone(actor: User, milestone_id: int) -> Milestone:
    """``actor``'s milestone with its contract; anyone else's is a 404."""
    milestone = (
        milestones_for(actor)
        .select_related("contract", "contract__client", "contract__freelancer")
        .filter(pk=milestone_id)
        .first()
    )
    if milestone is None:
        raise NotFoundError("No such milestone.")
    return milestone


def created_escrow(contract: Contract) -> ChainEscrow:
    """The contract's escrow, accepted by chain sync; before that, nothing can happen
    on chain but funding (which creates it)."""
    escrow = ChainEscrow.objects.filter(contract=contract).first()
    if escrow is None or escrow.status != ChainEscrow.Status.CREATED:
        raise Conflict(
            "The escrow for this contract is not created on chain yet: the client's first "
            "funding creates it.",
            code="escrow_not_created",
        )
    if int(escrow.chain_id) != int(settings.CHAIN_ID):
        raise Conflict(
            f"This contract's escrow is on chain {escrow.chain_id}, not {settings.CHAIN_ID}.",
            code="wrong_chain",
        )
    return escrow


def index_in(escrow: ChainEscrow, milestone: Milestone) -> int:
    try:
        return list(escrow.milestone_ids).index(milestone.pk)
    except ValueError:
        raise Conflict(
            f"“{milestone.title}” was added after the escrow was created on chain, "
            "so the escrow cannot hold it.",
            code="milestone_not_in_escrow",
        ) from None


def require_status(milestone: Milestone, allowed: tuple[str, ...], doing: str) -> None:
    if milestone.status not in allowed:
        raise InvalidTransition(
            f"“{milestone.title}” is {milestone.get_status_display().lower()}: "
            f"it cannot be {doing} now."
        )


# --- the node --------------------------------------------------------------------------


def node_call(read: Callable[[], T]) -> T:
    """Run one node read; any transport or node failure is ``chain_unavailable``."""
    try:
        return read()
    except ContractLogicError:
        raise
    except node.ChainUnavailable:
        raise
    except (OSError, Web3Exception, ValueError) as exc:
        raise node.ChainUnavailable() from exc


def escrow_on_node() -> Web3Contract:
    """The escrow contract on a node that is on ``CHAIN_ID``."""
    w3 = node.web3()
    node_chain = node_call(lambda: w3.eth.chain_id)
    if int(node_chain) != int(settings.CHAIN_ID):
        raise node.ChainUnavailable(
            f"The node is on chain {node_chain}, not {settings.CHAIN_ID}; try again later."
        )
    return node.escrow_contract(w3)


def read_escrow(contract: Web3Contract, onchain_id: int) -> OnChainEscrow | None:
    """The escrow's terms and milestones on chain, or None if nobody created it."""
    try:
        terms: Any = node_call(lambda: contract.functions.getEscrow(int(onchain_id)).call())
        rows: Any = node_call(lambda: contract.functions.getMilestones(int(onchain_id)).call())
    except ContractLogicError:
        return None  # EscrowNotFound
    client, review_period, freelancer, fee_bps, arbiter, token, treasury = terms
    return OnChainEscrow(
        client=Web3.to_checksum_address(client),
        freelancer=Web3.to_checksum_address(freelancer),
        arbiter=Web3.to_checksum_address(arbiter),
        token=Web3.to_checksum_address(token),
        treasury=Web3.to_checksum_address(treasury),
        review_period=int(review_period),
        fee_bps=int(fee_bps),
        milestones=[
            OnChainMilestone(int(amount), CHAIN_STATUSES[int(status)], bool(requested))
            for amount, status, requested, _submitted_at, _deliverable in rows
        ],
    )


def onchain_milestone(escrow: ChainEscrow, milestone: Milestone) -> tuple[int, OnChainMilestone]:
    """The milestone's index and state in the created escrow; its amount must still be the
    one the escrow holds."""
    index = index_in(escrow, milestone)
    found = read_escrow(escrow_on_node(), int(escrow.onchain_id))
    if found is None or index >= len(found.milestones):
        raise node.ChainUnavailable(
            "The node does not know this contract's escrow: it may be on another chain or "
            "still catching up. Try again later."
        )
    state = found.milestones[index]
    if state.amount != int(milestone.amount):
        raise Conflict(
            f"“{milestone.title}” is {milestone.amount} in SmartPay but the escrow holds "
            f"{state.amount} for it: the amounts no longer match.",
            code="amounts_mismatch",
        )
    return index, state


def require_chain_status(milestone: Milestone, state: OnChainMilestone, allowed: set[str]) -> None:
    """The chain may be ahead of SmartPay: a transaction mined but not yet confirmed."""
    if state.status not in allowed:
        raise Conflict(
            f"On chain, “{milestone.title}” is already {CHAIN_STATUS_WORDS[state.status]}: "
            "a transaction is waiting for confirmations. This page updates once SmartPay "
            "records it.",
            code="chain_state_pending",
        )


# --- the checks every milestone action shares ------------------------------------------


def milestone_action(
    actor: User,
    milestone_id: int,
    *,
    roles: tuple[str, ...],
    statuses: tuple[str, ...],
    chain_statuses: set[str],
    doing: str,
    sender: str | None,
    chain_id: int | None,
) -> tuple[Milestone, ChainEscrow, int, str, str]:
    """The checks every milestone action shares; returns the milestone, its escrow, its
    on-chain index, the actor's role and the address that must send the transaction."""
    milestone = party_milestone(actor, milestone_id)
    contract = milestone.contract
    require_chain_contract(contract)
    role = role_of(actor, contract, roles)
    check_chain_id(chain_id)
    require_status(milestone, statuses, doing)
    escrow = created_escrow(contract)
    address = escrow.client_address if role == "client" else escrow.freelancer_address
    if not address:
        raise Conflict(
            f"The escrow does not name your wallet yet: {wallet_link_hint()}.",
            code="wallet_required",
        )
    check_sender(sender, [address], f"the escrow names {address} as the {role}.")
    index, state = onchain_milestone(escrow, milestone)
    require_chain_status(milestone, state, chain_statuses)
    return milestone, escrow, index, role, address


def milestone_tx(
    build: Callable[..., UnsignedTransaction],
    escrow: ChainEscrow,
    index: int,
    sender: str,
    description: str,
    **extra: Any,
) -> list[UnsignedTransaction]:
    return [
        build(
            node.deployment().address,
            onchain_id=int(escrow.onchain_id),
            index=index,
            chain_id=settings.CHAIN_ID,
            sender=sender,
            description=description,
            **extra,
        )
    ]


def checked_text(text: str, *, required: str | None, name: str) -> str:
    text = (text or "").strip()
    if required and not text:
        raise DomainError(required, code=f"{name}_required")
    if len(text) > MAX_MESSAGE_CHARS:
        raise DomainError(
            f"Keep the {name} under {MAX_MESSAGE_CHARS} characters.", code=f"{name}_too_long"
        )
    return text
