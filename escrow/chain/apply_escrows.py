"""EscrowCreated: accept the on-chain escrow of a contract, or refuse a squatted id.

Anyone can call ``createEscrow`` with any id first. An escrow is ours only when
every term matches the contract (parties' linked wallets, the platform's arbiter
and treasury, token, amounts, fee, review period). A creation with other terms is
ignored, and the waiting ``ChainEscrow`` moves to a fresh id so the client's wallet
can create the real one; the squatted id is kept in ``rejected_ids``.
"""

from __future__ import annotations

from escrow.chain.apply_common import announce, arg_int, block_words, ignore
from escrow.chain.terms import rekeyed_id, term_problems
from escrow.models import ChainEscrow, ChainLog
from escrow.services import audited
from marketplace.models import Contract
from smartpay import audit


def apply_escrow_created(log: ChainLog, escrow: ChainEscrow | None) -> None:
    onchain_id = arg_int(log, "contractId")
    if escrow is None:
        ignore(log, f"No SmartPay contract waits for escrow {onchain_id}.")
        return
    contract = Contract.objects.select_for_update().get(pk=escrow.contract_id)
    escrow = ChainEscrow.objects.select_for_update().get(pk=escrow.pk)
    log.escrow = escrow
    if escrow.status != ChainEscrow.Status.AWAITING:
        ignore(log, f"Escrow {onchain_id} of contract {contract.pk} is already created.")
        return
    problems = mismatched_terms(log, contract, escrow)
    log.undo = {
        "escrow": escrow.pk,
        "escrow_status": escrow.status,
        "onchain_id": str(escrow.onchain_id),
        "rejected_ids": list(escrow.rejected_ids),
        "client_address": escrow.client_address,
        "freelancer_address": escrow.freelancer_address,
        "created_tx": escrow.created_tx,
        "created_block": escrow.created_block,
    }
    if problems:
        _rekey(log, contract, escrow, problems)
        return
    before = audit.snapshot(escrow, audited.CHAIN_ESCROW)
    escrow.status = ChainEscrow.Status.CREATED
    escrow.client_address = str(log.args["client"])
    escrow.freelancer_address = str(log.args["freelancer"])
    escrow.created_tx = log.tx_hash
    escrow.created_block = log.block_number
    escrow.save(
        update_fields=[
            "status",
            "client_address",
            "freelancer_address",
            "created_tx",
            "created_block",
            "updated_at",
        ]
    )
    after = audit.snapshot(escrow, audited.CHAIN_ESCROW)
    note = f"EscrowCreated on chain {block_words(log)} (tx {log.tx_hash})"
    audit.record(None, "chain_escrow.created", escrow, before=before, after=after, note=note)
    announce(
        contract,
        contract.client,
        "escrow_created",
        f"The escrow was created on chain {block_words(log)} with the contract's terms; "
        "milestones can be funded from the client's wallet.",
        f"Escrow created: {contract.title}",
    )


def _rekey(log: ChainLog, contract: Contract, escrow: ChainEscrow, problems: list[str]) -> None:
    squatted = str(log.args["contractId"])  # the event's exact id (the row's is the same)
    escrow.rejected_ids = [*escrow.rejected_ids, squatted]
    escrow.onchain_id = rekeyed_id(contract.pk, escrow.rejected_ids)
    escrow.save(update_fields=["rejected_ids", "onchain_id", "updated_at"])
    ignore(
        log,
        f"Escrow {squatted} was created with other terms ({'; '.join(problems)}); "
        f"contract {contract.pk} now uses escrow {escrow.onchain_id}.",
    )
    announce(
        contract,
        None,
        "escrow_rejected",
        f"An escrow created on chain {block_words(log)} did not match the contract "
        f"({'; '.join(problems)}) and is not used; the client's wallet can create the "
        "escrow again.",
        f"Escrow not accepted: {contract.title}",
    )


def mismatched_terms(log: ChainLog, contract: Contract, escrow: ChainEscrow) -> list[str]:
    """What in the EscrowCreated event differs from the contract, in words."""
    args = log.args
    return term_problems(
        contract,
        escrow.milestone_ids,
        client=str(args["client"]),
        freelancer=str(args["freelancer"]),
        arbiter=str(args["arbiter"]),
        treasury=str(args["treasury"]),
        token=str(args["token"]),
        amounts=[int(a) for a in args["amounts"]],
        fee_bps=arg_int(log, "feeBps"),
        review_period=arg_int(log, "reviewPeriod"),
    )
