"""Reads for the money pages, the API and the workroom panel; each filters by the viewer.

The statement lives in ``escrow.statements`` (re-exported here as ``transactions``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, Sum

from escrow.models import (
    EscrowHold,
    Funding,
    FundingItem,
    LedgerAccount,
    Payout,
    PayoutAccount,
    Refund,
    RefundRequest,
    Release,
)
from escrow.statements import Statement, StatementLine, transactions
from marketplace.models import Contract, Milestone, User
from marketplace.money import CURRENCIES, format_amount

__all__ = [
    "Statement",
    "StatementLine",
    "balances",
    "contract_money",
    "fundings_for",
    "payout_account_for",
    "payouts_for",
    "transactions",
]

Kind = LedgerAccount.Kind
S = Milestone.Status
HELD_STATUSES = (S.FUNDED, S.SUBMITTED, S.DISPUTED)


# --- balances -----------------------------------------------------------------------


def _escrow_by_currency(**contract_filter: Any) -> dict[str, int]:
    rows = (
        LedgerAccount.objects.filter(
            kind=Kind.ESCROW,
            milestone__status__in=HELD_STATUSES,
            **{f"milestone__contract__{name}": value for name, value in contract_filter.items()},
        )
        .values("currency")
        .annotate(total=Sum("balance"))
        .values_list("currency", "total")
    )
    return {currency: int(total or 0) for currency, total in rows}


def balances(user: User) -> list[dict[str, Any]]:
    """Per currency the user has touched: available, pending (with when each release
    becomes available), in escrow as client and in escrow for their work. Four queries."""
    own: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, currency, balance in LedgerAccount.objects.filter(
        owner=user, kind__in=(Kind.AVAILABLE, Kind.PENDING)
    ).values_list("kind", "currency", "balance"):
        own[currency][kind] = int(balance)
    as_client = _escrow_by_currency(client=user)
    for_work = _escrow_by_currency(freelancer=user)
    holds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for release in (
        Release.objects.filter(freelancer=user, status=Release.Status.PENDING)
        .select_related("milestone")
        .order_by("available_at", "pk")
    ):
        holds[release.currency].append(
            {
                "amount": int(release.freelancer_amount),
                "amount_display": format_amount(release.freelancer_amount, release.currency),
                "available_at": release.available_at,
                "milestone_title": release.milestone.title,
            }
        )
    result = []
    for currency in CURRENCIES:
        if currency not in own and currency not in as_client and currency not in for_work:
            continue
        values = {
            "available": own[currency].get(Kind.AVAILABLE, 0),
            "pending": own[currency].get(Kind.PENDING, 0),
            "in_escrow": as_client.get(currency, 0),
            "incoming": for_work.get(currency, 0),
        }
        entry: dict[str, Any] = {"currency": currency, **values}
        for name, amount in values.items():
            entry[f"{name}_display"] = format_amount(amount, currency)
        entry["pending_releases"] = holds.get(currency, [])
        entry["next_available_at"] = (
            holds[currency][0]["available_at"] if holds.get(currency) else None
        )
        result.append(entry)
    return result


# --- fundings, payouts --------------------------------------------------------------


def fundings_for(user: User) -> QuerySet[Funding]:
    """The client's own fundings (payments into escrow), newest first."""
    items = FundingItem.objects.select_related("milestone").order_by("milestone__position")
    return (
        Funding.objects.filter(client=user)
        .select_related("contract__client", "contract__freelancer")
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("-created_at", "-pk")
    )


def payouts_for(user: User) -> QuerySet[Payout]:
    payouts = Payout.objects.filter(user=user).select_related("account", "user")
    return payouts.order_by("-created_at", "-pk")


def payout_account_for(user: User) -> PayoutAccount | None:
    return PayoutAccount.objects.filter(user=user).first()


# --- the workroom money panel -------------------------------------------------------


@dataclass
class MilestoneMoney:
    """One milestone as the panel shows it to one party, with the actions they may
    take now. The services check every rule again; this only hides dead buttons."""

    milestone: Milestone
    amount_display: str
    escrow: int
    escrow_display: str
    funding: Funding | None = None  # an unfinished card payment that covers it
    hold: EscrowHold | None = None
    release: Release | None = None
    refund: Refund | None = None
    refund_request: RefundRequest | None = None  # the open one
    actions: set[str] = field(default_factory=set)

    @property
    def frozen(self) -> bool:
        return self.hold is not None


@dataclass
class ContractMoney:
    contract: Contract
    is_client: bool
    is_freelancer: bool
    milestones: list[MilestoneMoney]
    open_fundings: list[Funding]
    available: int  # the client's available balance in the contract's currency
    available_display: str
    fee_percent: str

    @property
    def fundable(self) -> list[MilestoneMoney]:
        return [entry for entry in self.milestones if "fund" in entry.actions]

    @property
    def waiting_for_payment(self) -> bool:
        return any(funding.status == Funding.Status.PENDING for funding in self.open_fundings)


def _client_actions(entry: MilestoneMoney, active: bool) -> set[str]:
    status = entry.milestone.status
    if status == S.DRAFT:
        # A failed card payment may be retried, or replaced by a new funding.
        waiting = entry.funding is not None and entry.funding.status != Funding.Status.FAILED
        return {"fund"} if active and not waiting else set()
    if entry.frozen:
        return set()
    if status == S.SUBMITTED:
        return {"approve"}
    if status == S.FUNDED:
        return {"withdraw_request"} if entry.refund_request else {"request_refund"}
    return set()


def _freelancer_actions(entry: MilestoneMoney) -> set[str]:
    if entry.frozen or entry.milestone.status != S.FUNDED:
        return set()
    if entry.refund_request:
        return {"accept_request", "decline_request"}
    return {"refund"}


def contract_money(contract: Contract, user: User) -> ContractMoney:
    """What the workroom's money panel shows ``user`` (a party of ``contract``)."""
    escrow = LedgerAccount.objects.filter(kind=Kind.ESCROW, milestone=OuterRef("pk")).values(
        "balance"
    )[:1]
    milestones = list(
        Milestone.objects.filter(contract=contract)
        .annotate(escrow=Subquery(escrow))
        .order_by("position")
    )
    ids = [milestone.pk for milestone in milestones]
    items = FundingItem.objects.select_related("milestone").order_by("pk")
    open_fundings = list(
        Funding.objects.filter(
            contract=contract,
            status__in=(Funding.Status.CREATED, Funding.Status.PENDING, Funding.Status.FAILED),
        )
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("-created_at", "-pk")
    )
    covering = {item.milestone_id: f for f in open_fundings for item in f.items.all()}
    holds = {
        hold.milestone_id: hold
        for hold in EscrowHold.objects.filter(milestone_id__in=ids, lifted_at__isnull=True)
    }
    releases = {
        r.milestone_id: r
        for r in Release.objects.filter(milestone_id__in=ids).select_related("released_by")
    }
    refunds = {r.milestone_id: r for r in Refund.objects.filter(milestone_id__in=ids)}
    requests = {
        r.milestone_id: r
        for r in RefundRequest.objects.filter(
            milestone_id__in=ids, status=RefundRequest.Status.OPEN
        )
    }
    is_client = contract.client_id == user.pk
    active = contract.status == Contract.Status.ACTIVE
    entries = []
    for milestone in milestones:
        held = int(getattr(milestone, "escrow", None) or 0)
        entry = MilestoneMoney(
            milestone=milestone,
            amount_display=format_amount(milestone.amount, contract.currency),
            escrow=held,
            escrow_display=format_amount(held, contract.currency),
            funding=covering.get(milestone.pk),
            hold=holds.get(milestone.pk),
            release=releases.get(milestone.pk),
            refund=refunds.get(milestone.pk),
            refund_request=requests.get(milestone.pk),
        )
        if contract.rail == "card":
            entry.actions = (
                _client_actions(entry, active) if is_client else _freelancer_actions(entry)
            )
        entries.append(entry)
    available = 0
    if is_client:
        available = int(
            LedgerAccount.objects.filter(
                owner=user, kind=Kind.AVAILABLE, currency=contract.currency
            )
            .values_list("balance", flat=True)
            .first()
            or 0
        )
    return ContractMoney(
        contract=contract,
        is_client=is_client,
        is_freelancer=contract.freelancer_id == user.pk,
        milestones=entries,
        open_fundings=open_fundings,
        available=available,
        available_display=format_amount(available, contract.currency),
        fee_percent=f"{contract.fee_bps / 100:g} %",
    )
