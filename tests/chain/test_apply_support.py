"""Helpers for the apply tests (no tests here): a chain contract with its waiting
``ChainEscrow``, the parties' wallets acting on the real contract, a tiny sync that
feeds new logs through ``to_chain_log`` + ``apply_log``, and snapshots of everything
applying may change, to prove a rollback restores it exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from web3 import Web3

from escrow.chain import node
from escrow.chain.apply import apply_log, rollback_log
from escrow.chain.events import to_chain_log
from escrow.models import ChainEscrow, ChainLog, LedgerAccount, Transfer
from marketplace.models import (
    Contract,
    ContractActivity,
    Milestone,
    MilestoneEvent,
    Profile,
    Submission,
)
from tests.chain.rail import ChainRail

CHAIN_ID = 31337
Kind = LedgerAccount.Kind
S = Milestone.Status
ZERO = "0x0000000000000000000000000000000000000000"


@dataclass
class Escrowed:
    """A chain contract, its ChainEscrow row and a cursor over the escrow's logs."""

    rail: ChainRail
    contract: Contract
    escrow: ChainEscrow
    next_block: int
    applied: list[ChainLog] = field(default_factory=list)

    # ---------------------------------------------------------------- state
    @property
    def milestones(self) -> list[Milestone]:
        return list(self.contract.milestones.order_by("position"))

    def milestone(self, index: int) -> Milestone:
        return Milestone.objects.get(pk=self.escrow.milestone_ids[index])

    @property
    def onchain_id(self) -> int:
        self.escrow.refresh_from_db()
        return int(self.escrow.onchain_id)

    @property
    def token(self) -> str:
        return str(self.escrow.token)

    # ---------------------------------------------------------------- wallets
    def transact(self, call: Any, sender: str, value: int = 0) -> Any:
        return self.rail.chain.send(call, sender, value)

    def create(
        self, sender: str | None = None, contract_id: int | None = None, **terms: Any
    ) -> None:
        """``createEscrow`` with the contract's terms, or the ``terms`` given instead."""
        a = self.rail.accounts
        amounts = [int(m.amount) for m in self.milestones]
        wanted = {
            "freelancer": a.freelancer,
            "arbiter": node.arbiter_address(),
            "token": self.token,
            "treasury": node.treasury_address(),
            "amounts": amounts,
            "reviewPeriod": node.review_period_seconds(),
            "feeBps": self.contract.fee_bps,
        }
        wanted.update(terms)
        call = self.rail.escrow.functions.createEscrow(
            self.onchain_id if contract_id is None else contract_id, *wanted.values()
        )
        self.transact(call, sender or a.client)

    def fund(self, index: int, onchain_id: int | None = None) -> None:
        self.rail.chain.fund(self.onchain_id if onchain_id is None else onchain_id, index)

    def call(self, name: str, *args: Any, sender: str) -> None:
        fn = getattr(self.rail.escrow.functions, name)
        self.transact(fn(self.onchain_id, *args), sender)

    # ---------------------------------------------------------------- sync
    def new_logs(self) -> list[ChainLog]:
        """Decode the escrow's logs since the last call (unsaved)."""
        w3 = self.rail.w3
        head = w3.eth.block_number
        if head < self.next_block:
            return []
        raw = w3.eth.get_logs(
            {"address": self.rail.escrow.address, "fromBlock": self.next_block, "toBlock": head}
        )
        self.next_block = head + 1
        rows = [to_chain_log(log, CHAIN_ID) for log in raw]
        return [row for row in rows if row is not None]

    def sync(self) -> list[ChainLog]:
        """Apply every new log, each in its own transaction as sync does."""
        done = []
        for row in self.new_logs():
            with transaction.atomic():
                done.append(apply_log(row))
        self.applied.extend(done)
        return done

    def rollback_all(self) -> None:
        for row in reversed(self.applied):
            with transaction.atomic():
                rollback_log(row)


def escrowed(
    rail: ChainRail, currency: str = "eth", amounts: tuple[int, ...] = (10**18, 2 * 10**18)
) -> Escrowed:
    """An active chain contract whose escrow waits to be created under its pk."""
    contract = rail.contract(currency=currency, amounts=amounts)
    escrow = ChainEscrow.objects.create(
        contract=contract,
        chain_id=CHAIN_ID,
        onchain_id=contract.pk,
        token=node.token_address(currency),
        milestone_ids=list(contract.milestones.order_by("position").values_list("pk", flat=True)),
    )
    return Escrowed(rail, contract, escrow, next_block=rail.w3.eth.block_number + 1)


def balance(account: LedgerAccount | None) -> int:
    if account is None:
        return 0
    account.refresh_from_db()
    return int(account.balance)


def available(user: Any, currency: str) -> int:
    return balance(
        LedgerAccount.objects.filter(owner=user, kind=Kind.AVAILABLE, currency=currency).first()
    )


def held(milestone: Milestone) -> int:
    return balance(LedgerAccount.objects.filter(milestone=milestone, kind=Kind.ESCROW).first())


def fees(currency: str) -> int:
    return balance(LedgerAccount.objects.filter(kind=Kind.FEES, currency=currency).first())


def external(currency: str) -> int:
    return balance(
        LedgerAccount.objects.filter(kind=Kind.EXTERNAL, rail="chain", currency=currency).first()
    )


def snapshot() -> dict[str, Any]:
    """Everything applying a log may change, except the append-only history
    (transfers, milestone events, activity), which a rollback answers rather than erases."""
    return {
        # Accounts and profiles are created on first use; an empty one is the same as none.
        "balances": sorted(  # repr: rows mix None and numbers
            LedgerAccount.objects.exclude(balance=0).values_list(
                "kind", "owner_id", "milestone_id", "currency", "balance"
            ),
            key=repr,
        ),
        "milestones": sorted(
            Milestone.objects.values_list("pk", "status", "review_deadline", "submitted_at"),
            key=repr,
        ),
        "submissions": sorted(
            Submission.objects.values_list(
                "pk", "number", "digest", "anchored_block", "anchored_tx"
            ),
            key=repr,
        ),
        "contracts": sorted(Contract.objects.values_list("pk", "status", "completed_at")),
        "profiles": sorted(
            Profile.objects.exclude(completed_contracts=0).values_list(
                "user_id", "completed_contracts"
            ),
            key=repr,
        ),
        "escrows": sorted(
            ChainEscrow.objects.values_list(
                "pk",
                "onchain_id",
                "status",
                "client_address",
                "freelancer_address",
                "created_tx",
                "created_block",
                "rejected_ids",
            ),
            key=repr,
        ),
    }


def history() -> dict[str, int]:
    return {
        "transfers": Transfer.objects.count(),
        "milestone_events": MilestoneEvent.objects.count(),
        "activity": ContractActivity.objects.count(),
        "submissions": Submission.objects.count(),
    }


def activity(contract: Contract) -> list[str]:
    return list(
        ContractActivity.objects.filter(contract=contract)
        .order_by("pk")
        .values_list("summary", flat=True)
    )


def checksum(address: str) -> str:
    return str(Web3.to_checksum_address(address))


def copy_log(row: ChainLog, **changes: Any) -> ChainLog:
    """An unsaved copy of ``row`` as decoding gave it, with ``changes``."""
    fields = ("chain_id", "address", "tx_hash", "log_index", "block_number", "block_hash")
    values = {f: getattr(row, f) for f in fields}
    values.update(event=row.event, args=dict(row.args))
    values.update(changes)
    return ChainLog(**values)
