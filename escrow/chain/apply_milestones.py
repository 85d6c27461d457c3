"""Handlers for the events of one milestone of an accepted escrow: Funded, Submitted,
RevisionRequested, RefundRequested, Disputed, Released, Resolved, Refunded.

Each locks the contract and milestone (then the ledger accounts), moves the status
through the lifecycle, moves money from the escrow account exactly as the contract
credited it, and records words on the workroom timeline. The chain is the truth:
a move the lifecycle allows is made even if our own services would not have made it.
"""

from __future__ import annotations

from django.db.models import Max

from escrow import ledger
from escrow.chain.apply_common import (
    ChainLogRejected,
    Kind,
    Leg,
    S,
    announce,
    arg_int,
    block_words,
    complete_if_done,
    from_timestamp,
    leg_keys,
    locked_milestone,
    move_legs,
    move_status,
    party,
)
from escrow.models import ChainEscrow, ChainLog
from marketplace.models import Contract, Milestone, Submission, User
from marketplace.money import Rail, format_amount

HELD = (S.FUNDED, S.SUBMITTED)


def apply_funded(log: ChainLog, escrow: ChainEscrow) -> None:
    """external(chain) → escrow; draft → funded."""
    contract, milestone = locked_milestone(log, escrow)
    amount, cur = arg_int(log, "amount"), contract.currency
    if amount != int(milestone.amount):
        raise ChainLogRejected(
            f"Funded {format_amount(amount, cur)} but “{milestone.title}” is "
            f"{format_amount(int(milestone.amount), cur)}."
        )
    held = ledger.escrow_account(milestone)
    external = ledger.external_account(Rail.CHAIN, cur)
    legs = [Leg("fund", external, held, amount, f"Funded “{milestone.title}” on chain")]
    keys, _ = leg_keys(log, ["fund"])
    ledger.lock_accounts(held, external)
    move_status(log, milestone, S.FUNDED, expected=[S.DRAFT], actor=contract.client)
    move_legs(log, legs, keys)
    announce(
        contract,
        contract.client,
        "milestone_funded",
        f"Funded on chain: {format_amount(amount, cur)} {block_words(log)} "
        f"for “{milestone.title}”.",
        f"Funded: {milestone.title}",
    )


def apply_submitted(log: ChainLog, escrow: ChainEscrow) -> None:
    """funded → submitted with the contract's review deadline; anchor the digest on the
    prepared Submission that carries it, or record one that was made on chain only."""
    contract, milestone = locked_milestone(log, escrow)
    move_status(log, milestone, S.SUBMITTED, expected=[S.FUNDED], actor=contract.freelancer)
    milestone.review_deadline = from_timestamp(arg_int(log, "reviewDeadline"))
    milestone.save(update_fields=["review_deadline", "updated_at"])
    submission = _anchor(log, contract, milestone)
    digest = submission.digest
    announce(
        contract,
        contract.freelancer,
        "milestone_submitted",
        f"Work on “{milestone.title}” submitted on chain (submission {submission.number}): "
        f"digest {digest[:12]}… anchored {block_words(log)}.",
        f"Work submitted: {milestone.title}",
    )


def _anchor(log: ChainLog, contract: Contract, milestone: Milestone) -> Submission:
    digest = str(log.args["deliverable"]).removeprefix("0x").lower()
    submission = (
        milestone.submissions.filter(digest__iexact=digest, anchored_block__isnull=True)
        .order_by("-number")
        .first()
    )
    if submission is None:
        last = milestone.submissions.aggregate(last=Max("number"))["last"] or 0
        submission = Submission.objects.create(
            milestone=milestone,
            number=last + 1,
            message="Submitted on chain",
            submitted_by=contract.freelancer,
            digest=digest,
            anchored_block=log.block_number,
            anchored_tx=log.tx_hash,
        )
        log.undo.update({"submission": submission.pk, "submission_created": True})
        return submission
    log.undo.update(
        {
            "submission": submission.pk,
            "submission_created": False,
            "anchored_block": submission.anchored_block,
            "anchored_tx": submission.anchored_tx,
        }
    )
    submission.anchored_block = log.block_number
    submission.anchored_tx = log.tx_hash
    submission.save(update_fields=["anchored_block", "anchored_tx"])
    return submission


def apply_revision_requested(log: ChainLog, escrow: ChainEscrow) -> None:
    """submitted → funded; the review clock stops."""
    contract, milestone = locked_milestone(log, escrow)
    move_status(log, milestone, S.FUNDED, expected=[S.SUBMITTED], actor=contract.client)
    milestone.review_deadline = None
    milestone.save(update_fields=["review_deadline", "updated_at"])
    announce(
        contract,
        contract.client,
        "revision_requested",
        f"Revision of “{milestone.title}” requested on chain {block_words(log)}.",
        f"Revision requested: {milestone.title}",
    )


def apply_refund_requested(log: ChainLog, escrow: ChainEscrow) -> None:
    """No state moves: the freelancer is asked to consent with ``refund``."""
    contract, milestone = locked_milestone(log, escrow)
    log.undo = {"milestone": milestone.pk}  # nothing to restore; a reorg still says so
    announce(
        contract,
        contract.client,
        "refund_requested",
        f"The client asked on chain {block_words(log)} to cancel “{milestone.title}” and get "
        "its escrow back; the freelancer's wallet consents with a refund.",
        f"Refund requested: {milestone.title}",
    )


def apply_disputed(log: ChainLog, escrow: ChainEscrow) -> None:
    """funded/submitted → disputed; the arbiter decides."""
    contract, milestone = locked_milestone(log, escrow)
    actor = party(escrow, contract, str(log.args["by"]))
    move_status(log, milestone, S.DISPUTED, expected=HELD, actor=actor)
    who = actor.display_name if actor else str(log.args["by"])
    announce(
        contract,
        actor,
        "milestone_disputed",
        f"{who} opened a dispute on “{milestone.title}” on chain {block_words(log)}; "
        "the escrow is locked until the arbiter decides.",
        f"Dispute opened: {milestone.title}",
    )


def apply_released(log: ChainLog, escrow: ChainEscrow) -> None:
    """funded/submitted → released; escrow → freelancer, fees, client as credited."""
    contract, milestone = locked_milestone(log, escrow)
    actor = party(escrow, contract, str(log.args["by"]))
    who = actor.display_name if actor else "The review period ended and the escrow"
    _settle(log, contract, milestone, S.RELEASED, HELD, actor, f"{who} released")


def apply_resolved(log: ChainLog, escrow: ChainEscrow) -> None:
    """disputed → resolved; the arbiter's split, moved as the contract credited it."""
    contract, milestone = locked_milestone(log, escrow)
    share = arg_int(log, "freelancerBps") / 100
    who = f"The arbiter awarded the freelancer {share:g} % and"
    _settle(log, contract, milestone, S.RESOLVED, [S.DISPUTED], None, who + " released")


def _settle(
    log: ChainLog,
    contract: Contract,
    milestone: Milestone,
    to_status: str,
    expected: list[str] | tuple[str, ...],
    actor: User | None,
    who: str,
) -> None:
    net, fee, back = (arg_int(log, k) for k in ("freelancerAmount", "fee", "clientRefund"))
    cur, title = contract.currency, milestone.title
    held = ledger.escrow_account(milestone)
    freelancer = ledger.user_account(contract.freelancer, Kind.AVAILABLE, cur)
    client = ledger.user_account(contract.client, Kind.AVAILABLE, cur)
    fees = ledger.fee_account(cur)
    legs = [
        Leg("release", held, freelancer, net, f"Release of “{title}” on chain"),
        Leg("fee", held, fees, fee, f"Fee on “{title}” on chain"),
        Leg("return", held, client, back, f"Return of “{title}” on chain"),
    ]
    keys, replay = leg_keys(log, [leg.name for leg in legs if leg.amount])
    balance = int(ledger.lock_accounts(held, freelancer, client, fees)[held.pk].balance)
    if not replay and balance != net + fee + back:
        raise ChainLogRejected(
            f"The escrow of “{title}” holds {format_amount(balance, cur)} but the event "
            f"pays out {format_amount(net + fee + back, cur)}."
        )
    move_status(log, milestone, to_status, expected=expected, actor=actor)
    move_legs(log, legs, keys)
    summary = (
        f"{who} {format_amount(net + fee + back, cur)} of “{title}” on chain "
        f"{block_words(log)}: {format_amount(net, cur)} to the freelancer, "
        f"fee {format_amount(fee, cur)}"
    )
    if back:
        summary += f", {format_amount(back, cur)} back to the client"
    verb = "milestone_released" if to_status == S.RELEASED else "dispute_resolved"
    announce(contract, actor, verb, summary + ".", f"Payment released: {title}")
    complete_if_done(log, contract)


def apply_refunded(log: ChainLog, escrow: ChainEscrow) -> None:
    """funded/submitted → refunded; the whole escrow back to the client."""
    contract, milestone = locked_milestone(log, escrow)
    amount, cur = arg_int(log, "amount"), contract.currency
    held = ledger.escrow_account(milestone)
    client = ledger.user_account(contract.client, Kind.AVAILABLE, cur)
    legs = [Leg("refund", held, client, amount, f"Refund of “{milestone.title}” on chain")]
    keys, replay = leg_keys(log, ["refund"])
    balance = int(ledger.lock_accounts(held, client)[held.pk].balance)
    if not replay and balance != amount:
        raise ChainLogRejected(
            f"The escrow of “{milestone.title}” holds {format_amount(balance, cur)} but the "
            f"event refunds {format_amount(amount, cur)}."
        )
    move_status(log, milestone, S.REFUNDED, expected=HELD, actor=contract.freelancer)
    move_legs(log, legs, keys)
    announce(
        contract,
        contract.freelancer,
        "milestone_refunded",
        f"Refunded on chain: {format_amount(amount, cur)} of “{milestone.title}” back to "
        f"the client {block_words(log)}.",
        f"Refunded: {milestone.title}",
    )
    complete_if_done(log, contract)
