"""The chain rail in reconciliation: the ledger against the escrow contract's views.

For every escrow created on chain it compares each milestone's status, what the
contract holds for it (``heldAmount``, and per milestone) and, per currency, the users'
*available* balances plus the platform fees with the contract's ``credits`` of the
escrows' parties and the treasury.

The node is read first, outside any transaction, *at the block chain sync has applied
up to* (the cursor's last block), so events sync has not read yet are not drift. The
ledger is then compared in reconciliation's snapshot; if sync moved on in between, the
caller reads again (``still_current``). A node that is down or lags makes the report
say "chain rail not checked: …"; the card rail's checks run regardless.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from web3 import Web3
from web3.exceptions import Web3Exception

from escrow.chain import node
from escrow.chain.arbiter_errors import status_name
from escrow.models import ChainCursor, ChainDeployment, ChainEscrow, LedgerAccount
from marketplace.models import Milestone
from marketplace.money import CURRENCIES, Rail, format_amount

Kind = LedgerAccount.Kind
# The contract's milestone status (by name) -> ours.
OURS = {
    "Unfunded": Milestone.Status.DRAFT,
    "Funded": Milestone.Status.FUNDED,
    "Submitted": Milestone.Status.SUBMITTED,
    "Released": Milestone.Status.RELEASED,
    "Refunded": Milestone.Status.REFUNDED,
    "Disputed": Milestone.Status.DISPUTED,
    "Resolved": Milestone.Status.RESOLVED,
}
HELD_ON_CHAIN = frozenset({"Funded", "Submitted", "Disputed"})


class ChainNotChecked(Exception):
    """The chain could not be read; the sentence says why."""


@dataclass
class EscrowView:
    escrow_id: int
    onchain_id: int
    currency: str
    milestones: list[tuple[int, str]]  # (amount, status name) by on-chain index
    held: int


@dataclass
class ChainView:
    """What the contract said at ``block`` (the last block chain sync applied)."""

    cursor_id: int
    block: int
    escrows: list[EscrowView] = field(default_factory=list)
    credits: dict[str, int] = field(default_factory=dict)  # per currency
    addresses: int = 0


def read_chain() -> ChainView | None:
    """The contract's view of every created escrow, or None when there is nothing on
    the chain rail to check. Raises ``ChainNotChecked`` when the node can't be read."""
    deployment = ChainDeployment.objects.filter(
        chain_id=settings.CHAIN_ID, contract_name=node.ESCROW_CONTRACT
    ).first()
    cursor = None
    if deployment is not None:
        cursor = ChainCursor.objects.filter(
            chain_id=settings.CHAIN_ID, address__iexact=deployment.address
        ).first()
    escrows = list(
        ChainEscrow.objects.filter(chain_id=settings.CHAIN_ID, status=ChainEscrow.Status.CREATED)
        .select_related("contract")
        .order_by("pk")
    )
    if deployment is None or cursor is None or cursor.next_block == 0:
        if escrows:
            raise ChainNotChecked("chain sync has not read the escrow contract yet")
        return None  # no chain rail here, or nothing on it yet: nothing can disagree
    try:
        return _read(deployment, cursor, escrows)
    except node.ChainUnavailable as error:
        raise ChainNotChecked(error.detail) from None
    except (OSError, Web3Exception) as error:
        raise ChainNotChecked(f"the node failed ({type(error).__name__}: {error})") from None


def _read(
    deployment: ChainDeployment, cursor: ChainCursor, escrows: list[ChainEscrow]
) -> ChainView:
    w3 = node.web3()
    contract = node.escrow_contract(w3, deployment.address)
    view = ChainView(cursor_id=cursor.pk, block=cursor.next_block - 1)
    at: Any = view.block
    # Per currency, the (token, account) credits that stand for ledger balances: each
    # escrow's parties and the treasury, in the token the escrow was created with.
    owed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    treasury = node.treasury_address()
    for escrow in escrows:
        currency = escrow.contract.currency
        milestones = contract.functions.getMilestones(int(escrow.onchain_id)).call(
            block_identifier=at
        )
        view.escrows.append(
            EscrowView(
                escrow_id=escrow.pk,
                onchain_id=int(escrow.onchain_id),
                currency=currency,
                milestones=[(int(m[0]), status_name(int(m[1]))) for m in milestones],
                held=int(
                    contract.functions.heldAmount(int(escrow.onchain_id)).call(block_identifier=at)
                ),
            )
        )
        token = Web3.to_checksum_address(escrow.token)
        for address in (escrow.client_address, escrow.freelancer_address, treasury):
            if address:
                owed[currency].add((token, Web3.to_checksum_address(address)))
    for currency, pairs in sorted(owed.items()):
        view.credits[currency] = sum(
            int(contract.functions.credits(token, address).call(block_identifier=at))
            for token, address in sorted(pairs)
        )
        view.addresses += len(pairs)
    return view


def still_current(view: ChainView) -> bool:
    """Inside the ledger snapshot: sync has applied exactly up to the block read."""
    next_block = (
        ChainCursor.objects.filter(pk=view.cursor_id).values_list("next_block", flat=True).first()
    )
    return next_block == view.block + 1


# --- comparing (inside reconciliation's ledger snapshot) ------------------------------------


@dataclass
class ChainFindings:
    breaches: list[str] = field(default_factory=list)
    drift: dict[str, dict[str, int]] = field(default_factory=dict)


def compare(view: ChainView) -> ChainFindings:
    found = ChainFindings()
    escrow_balances = dict(
        LedgerAccount.objects.filter(kind=Kind.ESCROW, milestone__isnull=False).values_list(
            "milestone_id", "balance"
        )
    )
    for seen in view.escrows:
        _compare_escrow(found, view.block, seen, escrow_balances)
    _compare_credits(found, view)
    return found


def _compare_escrow(
    found: ChainFindings, block: int, seen: EscrowView, balances: dict[int, Any]
) -> None:
    escrow = ChainEscrow.objects.get(pk=seen.escrow_id)
    ids = list(escrow.milestone_ids)
    where = f"escrow {seen.onchain_id} (block {block})"
    if len(ids) != len(seen.milestones):
        found.breaches.append(
            f"Chain rail, {where}: the contract has {len(seen.milestones)} milestone(s), "
            f"our records {len(ids)}."
        )
    milestones = Milestone.objects.in_bulk(ids)
    held_here = 0
    for index, (milestone_id, (amount, status)) in enumerate(
        zip(ids, seen.milestones, strict=False)
    ):
        milestone = milestones.get(milestone_id)
        if milestone is None:
            continue
        ours = int(balances.get(milestone_id, 0))
        held_here += ours
        if milestone.status != OURS[status]:
            found.breaches.append(
                f"Chain rail, {where}: milestone {milestone.pk} “{milestone.title}” (index "
                f"{index}) is {status} on chain but {milestone.status} here."
            )
        on_chain = amount if status in HELD_ON_CHAIN else 0
        if ours != on_chain:
            found.breaches.append(
                f"Chain rail, {where}: the contract holds {_money(on_chain, seen.currency)} "
                f"for milestone {milestone.pk} (index {index}, {status}); its escrow account "
                f"holds {_money(ours, seen.currency)}."
            )
    if held_here != seen.held:
        found.breaches.append(
            f"Chain rail, {where}: heldAmount is {_money(seen.held, seen.currency)}; the "
            f"ledger's escrow accounts hold {_money(held_here, seen.currency)}."
        )


def _compare_credits(found: ChainFindings, view: ChainView) -> None:
    """Money the contract owes people (credits) equals what the ledger says they may
    withdraw: users' available balances and the platform's fees."""
    chain_currencies = sorted(code for code, spec in CURRENCIES.items() if spec.rail == Rail.CHAIN)
    for currency in chain_currencies:
        # Summed here, not in SQL: SQLite sums NUMERIC as floats, and wei need every digit.
        ours = sum(
            int(balance)
            for balance in LedgerAccount.objects.filter(
                kind__in=[Kind.AVAILABLE, Kind.FEES], currency=currency
            ).values_list("balance", flat=True)
        )
        theirs = view.credits.get(currency, 0)
        if not ours and currency not in view.credits:
            continue
        drift = theirs - ours
        found.drift[f"chain:{currency}"] = {"ledger": ours, "provider": theirs, "drift": drift}
        if drift:
            found.breaches.append(
                f"Chain rail, {currency.upper()} (block {view.block}): the contract credits "
                f"{_money(theirs, currency)} to the escrows' parties and the treasury, but "
                f"their available balances and the fees in the ledger come to "
                f"{_money(ours, currency)}: a drift of {_money(drift, currency)}."
            )


def _money(amount: int, currency: str) -> str:
    return ("-" if amount < 0 else "") + format_amount(abs(amount), currency)
