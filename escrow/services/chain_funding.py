"""Chain rail: funding milestones (creating the escrow first) and withdrawing credits.

The client's wallet signs everything; SmartPay only hands out the transactions. The
escrow's terms are fixed on chain when it is created, so funding records them in the
contract's ``ChainEscrow`` (awaiting until chain sync accepts the ``EscrowCreated``
event) and from then on the milestone plan cannot change.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from web3 import Web3

from escrow.chain import node
from escrow.chain import transactions as txs
from escrow.chain.terms import rekeyed_id, term_problems
from escrow.chain.transactions import UnsignedTransaction
from escrow.models import ChainEscrow
from escrow.services import audited
from escrow.services import chain_checks as check
from marketplace.models import Contract, Milestone, User
from marketplace.money import format_amount
from marketplace.services.contracts import visible_contracts
from smartpay import audit
from smartpay.errors import Conflict, DomainError, NotFoundError

# MilestoneEscrow's limits: a transaction past them would only revert.
MAX_MILESTONES = 100
MAX_FEE_BPS = 2_000


@dataclass(frozen=True)
class Terms:
    """What ``createEscrow`` fixes, as the contract and settings say it must be."""

    onchain_id: int
    client_wallets: list[str]
    freelancer_wallets: list[str]
    arbiter: str
    token: str
    treasury: str
    amounts: list[int]
    milestone_ids: list[int]
    review_period: int
    fee_bps: int

    def accept(self, contract: Contract, found: check.OnChainEscrow) -> bool:
        """The rule chain sync applies to ``EscrowCreated`` (``escrow.chain.terms``)."""
        return not term_problems(
            contract,
            self.milestone_ids,
            client=found.client,
            freelancer=found.freelancer,
            arbiter=found.arbiter,
            treasury=found.treasury,
            token=found.token,
            amounts=[m.amount for m in found.milestones],
            fee_bps=found.fee_bps,
            review_period=found.review_period,
        )


def _requested(actor: User, milestone_ids: list[int]) -> tuple[Contract, list[Milestone]]:
    try:
        ids = sorted({int(value) for value in milestone_ids})
    except (TypeError, ValueError):
        raise DomainError("Milestones are given by their ids.", code="invalid_milestones") from None
    if not ids:
        raise DomainError("Choose at least one milestone to fund.", code="milestones_required")
    milestones = list(
        Milestone.objects.filter(contract__in=visible_contracts(actor), pk__in=ids)
        .select_related("contract")
        .order_by("position")
    )
    if len(milestones) != len(ids) or len({m.contract_id for m in milestones}) != 1:
        raise NotFoundError("No such milestone on this contract.")
    return milestones[0].contract, milestones


def _terms(contract: Contract, onchain_id: int) -> Terms:
    client_wallets = check.linked_wallets(contract.client)
    if not client_wallets:
        raise Conflict(
            f"Funding on the chain rail needs your wallet: {check.wallet_link_hint()}.",
            code="wallet_required",
        )
    freelancer_wallets = check.linked_wallets(contract.freelancer)
    if not freelancer_wallets:
        raise Conflict(
            f"{contract.freelancer.display_name} has not linked a wallet yet, so the escrow "
            "cannot name where their money goes. Ask them to link one with Sign-In with "
            "Ethereum.",
            code="wallet_required",
        )
    plan = list(contract.milestones.order_by("position").values_list("pk", "amount"))
    if len(plan) > MAX_MILESTONES:
        raise DomainError(
            f"An escrow holds at most {MAX_MILESTONES} milestones.", code="too_many_milestones"
        )
    if contract.fee_bps > MAX_FEE_BPS:
        raise Conflict(
            "The contract's platform fee is above the escrow's limit.", code="fee_too_high"
        )
    return Terms(
        onchain_id=onchain_id,
        client_wallets=client_wallets,
        freelancer_wallets=freelancer_wallets,
        arbiter=node.arbiter_address(),
        token=node.token_address(contract.currency),
        treasury=node.treasury_address(),
        amounts=[int(amount) for _, amount in plan],
        milestone_ids=[pk for pk, _ in plan],
        review_period=node.review_period_seconds(),
        fee_bps=int(contract.fee_bps),
    )


def prepare_funding(
    *,
    actor: User,
    milestone_ids: list[int],
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """The client's transactions to fund draft milestones: ``createEscrow`` while the
    escrow does not exist, ERC-20 ``approve`` of the total, then ``fund`` per milestone.

    Records (or refreshes, while it is awaiting) the contract's ``ChainEscrow``. An escrow
    id someone else took with other terms is given up for a fresh one, as chain sync
    would when it sees that escrow.
    """
    contract, milestones = _requested(actor, milestone_ids)
    check.require_chain_contract(contract)
    check.role_of(actor, contract, ("client",))
    check.check_chain_id(chain_id)
    for milestone in milestones:
        check.require_status(milestone, (Milestone.Status.DRAFT,), "funded")
    escrow = ChainEscrow.objects.filter(contract=contract).first()
    if escrow is not None and escrow.status == ChainEscrow.Status.CREATED:
        check.check_sender(sender, [escrow.client_address], "the escrow names another client.")
        return _fund_created(contract, escrow, milestones)
    onchain_id = int(escrow.onchain_id) if escrow is not None else rekeyed_id(contract.pk, [])
    terms = _terms(contract, onchain_id)
    check.check_sender(sender, terms.client_wallets, "it is not a wallet linked to your account.")
    contract_on_node = check.escrow_on_node()
    found = check.read_escrow(contract_on_node, onchain_id)
    rejected = None
    if found is not None and not terms.accept(contract, found):
        rejected, found = onchain_id, None
        given_up = [*(escrow.rejected_ids if escrow is not None else []), onchain_id]
        terms = _terms(contract, rekeyed_id(contract.pk, given_up))
    if found is None:
        client = Web3.to_checksum_address(sender) if sender else terms.client_wallets[0]
    else:  # created on chain, not yet seen by chain sync
        client = found.client
        check.check_sender(sender, [client], "the escrow on chain names another client.")
        states = {pk: found.milestones[i] for i, pk in enumerate(terms.milestone_ids)}
        for milestone in milestones:
            check.require_chain_status(milestone, states[milestone.pk], {"Unfunded"})
    escrow = _record_awaiting(actor, contract, escrow, terms, rejected)
    address = contract_on_node.address
    create = [] if found is not None else [_create_tx(contract, terms, client, address)]
    indexes = {pk: i for i, pk in enumerate(terms.milestone_ids)}
    return create + _fund_txs(contract, escrow, milestones, indexes, client, address)


def _fund_created(
    contract: Contract, escrow: ChainEscrow, milestones: list[Milestone]
) -> list[UnsignedTransaction]:
    indexes = {}
    for milestone in milestones:
        index, state = check.onchain_milestone(escrow, milestone)
        check.require_chain_status(milestone, state, {"Unfunded"})
        indexes[milestone.pk] = index
    if not escrow.client_address:
        raise Conflict("The escrow does not name the client's wallet yet.", code="wallet_required")
    address = node.deployment().address
    return _fund_txs(contract, escrow, milestones, indexes, escrow.client_address, address)


def _record_awaiting(
    actor: User, contract: Contract, escrow: ChainEscrow | None, terms: Terms, rejected: int | None
) -> ChainEscrow:
    """Write the terms the transactions carry; refuse if chain sync changed the row since
    it was read (the transactions would name a stale escrow id)."""
    expected = None if escrow is None else (escrow.status, int(escrow.onchain_id))
    with transaction.atomic(durable=True):
        Contract.objects.select_for_update().get(pk=contract.pk)
        current = ChainEscrow.objects.select_for_update().filter(contract=contract).first()
        found = None if current is None else (current.status, int(current.onchain_id))
        if found != expected:
            raise Conflict(
                "The escrow changed while the transactions were prepared; try again.",
                code="escrow_changed",
            )
        before = None if current is None else audit.snapshot(current, audited.CHAIN_ESCROW)
        if current is None:
            current = ChainEscrow(contract=contract)
        current.chain_id = settings.CHAIN_ID
        current.onchain_id = terms.onchain_id
        current.token = terms.token
        current.milestone_ids = terms.milestone_ids
        current.status = ChainEscrow.Status.AWAITING
        if rejected is not None:
            current.rejected_ids = [*current.rejected_ids, str(rejected)]
        current.save()
        after = audit.snapshot(current, audited.CHAIN_ESCROW)
        audit.record(actor, "chain_escrow.prepared", current, before=before, after=after)
    return current


def _create_tx(contract: Contract, terms: Terms, client: str, address: str) -> UnsignedTransaction:
    total = format_amount(sum(terms.amounts), contract.currency)
    return txs.create_escrow(
        address,
        chain_id=settings.CHAIN_ID,
        sender=client,
        onchain_id=terms.onchain_id,
        freelancer=terms.freelancer_wallets[0],
        arbiter=terms.arbiter,
        token=terms.token,
        treasury=terms.treasury,
        amounts=terms.amounts,
        review_period=terms.review_period,
        fee_bps=terms.fee_bps,
        description=(
            f"Create the escrow of “{contract.title}” on chain: {len(terms.amounts)} "
            f"milestone(s), {total} in all, paid to {terms.freelancer_wallets[0]}."
        ),
    )


def _fund_txs(
    contract: Contract,
    escrow: ChainEscrow,
    milestones: list[Milestone],
    indexes: dict[int, int],
    client: str,
    address: str,
) -> list[UnsignedTransaction]:
    currency = contract.currency
    is_eth = Web3.to_checksum_address(escrow.token) == node.ETH_ADDRESS
    result: list[UnsignedTransaction] = []
    if not is_eth:
        total = sum(int(m.amount) for m in milestones)
        result.append(
            txs.approve_token(
                escrow.token,
                spender=address,
                amount=total,
                chain_id=settings.CHAIN_ID,
                sender=client,
                description=(
                    f"Allow the escrow contract to take {format_amount(total, currency)} "
                    "from your wallet for the funding that follows."
                ),
            )
        )
    for milestone in milestones:
        result.append(
            txs.fund(
                address,
                onchain_id=int(escrow.onchain_id),
                index=indexes[milestone.pk],
                value=int(milestone.amount) if is_eth else 0,
                chain_id=settings.CHAIN_ID,
                sender=client,
                description=(
                    f"Fund milestone {milestone.position}, “{milestone.title}”: "
                    f"{format_amount(milestone.amount, currency)} into escrow."
                ),
            )
        )
    return result
