"""Steps every chain log handler shares: finding and locking the milestone an event is
about, moving its status through the lifecycle while remembering how to undo it,
moving money under keys derived from the log, and telling the parties.

Handlers write what they did into the ``ChainLog`` they are given (``status``,
``note``, ``transfer_keys``, ``undo``); ``escrow.chain.apply`` saves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from escrow import ledger
from escrow.models import ChainEscrow, ChainLog, LedgerAccount, Transfer
from marketplace import lifecycle
from marketplace.models import Contract, Milestone, User
from marketplace.services import audited
from marketplace.services.contracts import (
    complete_contract_if_done,
    record_activity,
    workroom_url,
)
from notifications.services import notify
from smartpay import audit
from smartpay.errors import DomainError, InvalidTransition

Kind = LedgerAccount.Kind
S = Milestone.Status


class ChainLogRejected(DomainError):
    """The event cannot be applied to our records as they are (the log is FAILED)."""

    status_code = 409
    code = "chain_log_rejected"
    default_detail = "This chain event does not fit the ledger or the milestone."


@dataclass(frozen=True)
class Leg:
    """One transfer an event causes, named so its key is stable (``fund``, ``fee``...)."""

    name: str
    source: LedgerAccount
    destination: LedgerAccount
    amount: int
    memo: str


def ignore(log: ChainLog, note: str) -> None:
    log.status = ChainLog.Status.IGNORED
    log.note = note


def arg_int(log: ChainLog, name: str) -> int:
    return int(log.args[name])


def block_words(log: ChainLog) -> str:
    return f"in block {log.block_number}"


# ------------------------------------------------------------------ milestones
def locked_milestone(log: ChainLog, escrow: ChainEscrow) -> tuple[Contract, Milestone]:
    """Lock the contract and milestone the event's ``milestone`` index points at."""
    index = arg_int(log, "milestone")
    ids: list[int] = list(escrow.milestone_ids)
    if not 0 <= index < len(ids):
        raise ChainLogRejected(f"Escrow {escrow.onchain_id} has no milestone {index}.")
    # lock_milestone's order (contract, then milestone) without its look-up of the
    # contract id, which the escrow already knows: sync applies thousands of these.
    contract = (
        Contract.objects.select_for_update(of=("self",))
        .select_related("client", "freelancer")
        .get(pk=escrow.contract_id)
    )
    milestone = (
        Milestone.objects.select_for_update().filter(pk=int(ids[index]), contract=contract).first()
    )
    if milestone is None:
        raise ChainLogRejected(f"Milestone {ids[index]} is not on contract {contract.pk}.")
    milestone.contract = contract  # the ledger reads its currency
    return contract, milestone


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def from_timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def move_status(
    log: ChainLog,
    milestone: Milestone,
    to_status: str,
    *,
    expected: Iterable[str],
    actor: User | None,
) -> None:
    """Move ``milestone`` (locked) through the lifecycle, remembering what it was.

    ``expected`` narrows the lifecycle table to what this event can follow: the
    table allows submitted → funded, but a Funded event never means that.
    """
    if milestone.status not in set(expected):
        raise InvalidTransition(
            f"{log.event} {block_words(log)} cannot apply: “{milestone.title}” is "
            f"{milestone.get_status_display().lower()}."
        )
    log.undo.update(
        {
            "milestone": milestone.pk,
            "status": milestone.status,
            "review_deadline": _iso(milestone.review_deadline),
            "submitted_at": _iso(milestone.submitted_at),
        }
    )
    note = f"{log.event} on chain {block_words(log)} (tx {log.tx_hash})"
    before = audit.snapshot(milestone, audited.MILESTONE)
    lifecycle.transition_milestone(milestone, to_status, actor=actor, note=note)
    # One audit entry per state change sync applies (not per log read: most change nothing).
    after = audit.snapshot(milestone, audited.MILESTONE)
    action = "revision_requested" if log.event == "RevisionRequested" else to_status
    audit.record(actor, f"milestone.{action}", milestone, before=before, after=after, note=note)


def complete_if_done(log: ChainLog, contract: Contract) -> None:
    """Complete the contract when this event made its last milestone final."""
    if complete_contract_if_done(contract):
        log.undo["contract_completed"] = True


def party(escrow: ChainEscrow, contract: Contract, address: str) -> User | None:
    """The party whose wallet ``address`` is on this escrow, if any."""
    if address and address.lower() == escrow.client_address.lower():
        return contract.client
    if address and address.lower() == escrow.freelancer_address.lower():
        return contract.freelancer
    return None


def announce(
    contract: Contract,
    actor: User | None,
    verb: str,
    summary: str,
    title: str,
) -> None:
    """Timeline entry, and a notification (on commit) to every party but the actor."""
    record_activity(contract, actor, verb, summary)
    for user_id in (contract.client_id, contract.freelancer_id):
        if actor is None or user_id != actor.pk:
            notify(user_id, verb, title, workroom_url(contract))


# ------------------------------------------------------------------ money
def transfer_key(log: ChainLog, leg: str) -> str:
    return f"chain:{log.chain_id}:{log.block_hash}:{log.tx_hash}:{log.log_index}:{leg}"


def leg_keys(log: ChainLog, legs: Sequence[str]) -> tuple[dict[str, str], bool]:
    """The transfer key of each leg, and whether every one of them has moved already
    (a replay: the ledger answers it from the first transfers).

    A key whose transfer a reorg reversed (``reorg:{key}`` exists) is spent: the same
    log shown again in the same block (a node that wavered) is new money, so such a
    leg gets the next ``:again{n}`` key.
    """
    keys = {leg: transfer_key(log, leg) for leg in legs}
    probe = [*keys.values(), *(f"reorg:{key}" for key in keys.values())]
    seen = set(
        Transfer.objects.filter(idempotency_key__in=probe).values_list("idempotency_key", flat=True)
    )
    for leg, base in keys.items():
        key, again = base, 0
        while f"reorg:{key}" in seen:
            again += 1
            key = f"{base}:again{again}"
            seen |= set(
                Transfer.objects.filter(idempotency_key__in=[key, f"reorg:{key}"]).values_list(
                    "idempotency_key", flat=True
                )
            )
        keys[leg] = key
    return keys, bool(keys) and all(key in seen for key in keys.values())


def move_legs(log: ChainLog, legs: Sequence[Leg], keys: dict[str, str]) -> None:
    """Move each non-zero leg under its key (the caller locked the accounts)."""
    for leg in legs:
        if leg.amount:
            ledger.move(
                source=leg.source,
                destination=leg.destination,
                amount=leg.amount,
                key=keys[leg.name],
                memo=leg.memo,
            )
            log.transfer_keys.append(keys[leg.name])
