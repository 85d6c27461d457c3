"""The ops console's figures (the admin index): money held in escrow, disputes, failed
payouts, chain sync and the latest reconciliation, each with the admin list behind it.

Reads only, a fixed number of queries whatever the data (see tests/test_ops_dashboard.py).
Each block is shown to staff who may view the model behind it; arbiters without those
permissions see a summary of their queue instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from disputes import selectors as dispute_selectors
from disputes.models import Dispute
from escrow.models import ChainCursor, LedgerAccount, Payout, ReconciliationReport
from escrow.services.reconciliation import describe_drift
from marketplace.models import User
from marketplace.money import Rail, format_amount
from smartpay.models import PeriodicRun
from smartpay.schedule import task_health

# A cursor that has not synced for this long is shown as stale even without an error.
STALE_SYNC_MINUTES = 15


def changelist(model: type[Any], **filters: str) -> str:
    """The admin list of ``model``, with ``filters`` applied as its query string."""
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def change_page(obj: Any) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def may_view(user: User, model: type[Any]) -> bool:
    meta = model._meta
    return bool(user.is_superuser or user.has_perm(f"{meta.app_label}.view_{meta.model_name}"))


# --- money in escrow ----------------------------------------------------------------


@dataclass(frozen=True)
class HeldLine:
    currency: str
    rail: str
    total: int
    milestones: int
    link: str

    @property
    def shown(self) -> str:
        return format_amount(self.total, self.currency)

    @property
    def rail_in_words(self) -> str:
        return Rail(self.rail).label if self.rail in Rail.values else self.rail


def escrow_held() -> list[HeldLine]:
    """The sum of milestone escrow balances per currency and rail (one query)."""
    rows = (
        LedgerAccount.objects.filter(kind=LedgerAccount.Kind.ESCROW, balance__gt=0)
        .values("currency", contract_rail=F("milestone__contract__rail"))
        .annotate(total=Sum("balance"), milestones=Count("pk"))
        .order_by("contract_rail", "currency")
    )
    return [
        HeldLine(
            currency=row["currency"],
            rail=row["contract_rail"],
            total=int(row["total"] or 0),
            milestones=row["milestones"],
            link=changelist(LedgerAccount, kind__exact="escrow", currency__exact=row["currency"]),
        )
        for row in rows
    ]


# --- disputes -----------------------------------------------------------------------


@dataclass(frozen=True)
class DisputeFigures:
    active: int
    overdue: int
    with_arbiter: int
    unassigned: int
    active_link: str
    overdue_link: str
    unassigned_link: str


def dispute_figures() -> DisputeFigures:
    """Cases not yet closed for good, and those past a deadline (two queries)."""
    active = Dispute.objects.exclude(status__in=Dispute.FINAL)
    counts = active.aggregate(
        active=Count("pk"),
        with_arbiter=Count("pk", filter=Q(arbiter__isnull=False)),
        unassigned=Count("pk", filter=Q(status=Dispute.Status.ESCALATED, arbiter__isnull=True)),
    )
    return DisputeFigures(
        active=counts["active"],
        overdue=dispute_selectors.overdue(active).count(),
        with_arbiter=counts["with_arbiter"],
        unassigned=counts["unassigned"],
        active_link=changelist(Dispute, state="active"),
        overdue_link=changelist(Dispute, overdue="yes"),
        unassigned_link=changelist(Dispute, mine="unassigned", status__exact="escalated"),
    )


# --- payouts ------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutFigures:
    failed: int
    retrying: int
    failed_link: str
    retrying_link: str


def payout_figures() -> PayoutFigures:
    """Payouts that failed for good (money back on the balance) and those waiting for
    another attempt (one query)."""
    counts = Payout.objects.aggregate(
        failed=Count("pk", filter=Q(status=Payout.Status.FAILED)),
        retrying=Count("pk", filter=Q(status=Payout.Status.RETRYING)),
    )
    return PayoutFigures(
        failed=counts["failed"],
        retrying=counts["retrying"],
        failed_link=changelist(Payout, status__exact=Payout.Status.FAILED),
        retrying_link=changelist(Payout, status__exact=Payout.Status.RETRYING),
    )


# --- chain sync ---------------------------------------------------------------------


@dataclass(frozen=True)
class SyncLine:
    chain_id: int
    address: str
    head_block: int
    next_block: int
    lag: int
    last_synced_at: datetime | None
    last_error: str
    stale: bool
    link: str


def chain_sync() -> list[SyncLine]:
    """Each cursor's lag as chain sync last stored it; the node is not asked (one query)."""
    stale_before = timezone.now() - timedelta(minutes=STALE_SYNC_MINUTES)
    return [
        SyncLine(
            chain_id=cursor.chain_id,
            address=cursor.address,
            head_block=cursor.head_block,
            next_block=cursor.next_block,
            lag=cursor.lag,
            last_synced_at=cursor.last_synced_at,
            last_error=cursor.last_error,
            stale=cursor.last_synced_at is None or cursor.last_synced_at < stale_before,
            link=change_page(cursor),
        )
        for cursor in ChainCursor.objects.order_by("chain_id", "address")
    ]


# --- reconciliation -----------------------------------------------------------------


@dataclass(frozen=True)
class ReconciliationFigures:
    started_at: datetime
    finished: bool
    ok: bool
    problems: list[str]
    drift_lines: list[str]
    drifting: list[str]
    link: str
    list_link: str
    # {"card:usd": drift in minor units, ...} for /metrics.
    drift_amounts: dict[str, int] = field(default_factory=dict)


def latest_reconciliation() -> ReconciliationFigures | None:
    """The newest reconciliation report in words, or None before the first run (one query)."""
    report = ReconciliationReport.objects.order_by("-started_at", "-pk").first()
    if report is None:
        return None
    return ReconciliationFigures(
        started_at=report.started_at,
        finished=report.finished_at is not None,
        ok=report.ok,
        problems=list(report.problems),
        drift_lines=describe_drift(report),
        drifting=sorted(key for key, figures in report.drift.items() if figures.get("drift")),
        link=change_page(report),
        list_link=changelist(ReconciliationReport),
        drift_amounts={key: int(row.get("drift") or 0) for key, row in report.drift.items()},
    )


# --- an arbiter's queue -------------------------------------------------------------


@dataclass(frozen=True)
class QueueFigures:
    mine: int
    mine_overdue: int
    to_confirm: int
    unassigned: int
    mine_link: str
    overdue_link: str
    confirm_link: str
    unassigned_link: str


def queue_figures(user: User) -> QueueFigures:
    """What waits for ``user`` as an arbiter (two queries)."""
    queue = dispute_selectors.arbiter_queue(user).exclude(status__in=Dispute.FINAL)
    counts = queue.aggregate(
        mine=Count("pk", filter=Q(arbiter=user)),
        to_confirm=Count("pk", filter=Q(status=Dispute.Status.CONFIRMING) & ~Q(decided_by=user)),
        unassigned=Count("pk", filter=Q(arbiter__isnull=True)),
    )
    return QueueFigures(
        mine=counts["mine"],
        mine_overdue=dispute_selectors.overdue(queue.filter(arbiter=user)).count(),
        to_confirm=counts["to_confirm"],
        unassigned=counts["unassigned"],
        mine_link=changelist(Dispute, mine="mine"),
        overdue_link=changelist(Dispute, mine="mine", overdue="yes"),
        confirm_link=changelist(Dispute, status__exact=Dispute.Status.CONFIRMING),
        unassigned_link=changelist(Dispute, mine="unassigned"),
    )


# --- periodic tasks -----------------------------------------------------------------


@dataclass(frozen=True)
class PeriodicFigures:
    scheduled: int
    overdue: list[str]
    link: str


def periodic_figures() -> PeriodicFigures:
    """How many periodic tasks are scheduled and which are overdue (two queries)."""
    health = task_health()
    return PeriodicFigures(
        scheduled=sum(1 for task in health if task.enabled),
        overdue=[task.name for task in health if task.overdue],
        link=changelist(PeriodicRun),
    )


# --- the index ----------------------------------------------------------------------


@dataclass
class Dashboard:
    escrow: list[HeldLine] | None = None
    disputes: DisputeFigures | None = None
    payouts: PayoutFigures | None = None
    chain: list[SyncLine] | None = None
    reconciliation: ReconciliationFigures | None = None
    shows_reconciliation: bool = False
    queue: QueueFigures | None = None
    periodic: PeriodicFigures | None = None
    blocks: list[str] = field(default_factory=list)

    @property
    def reconciliation_list_link(self) -> str:
        return changelist(ReconciliationReport)

    @property
    def is_ops(self) -> bool:
        ops_blocks = {"escrow", "disputes", "payouts", "chain", "reconciliation", "periodic"}
        return bool(ops_blocks & set(self.blocks))


def dashboard_for(user: User) -> Dashboard:
    """The figures ``user`` may see: each ops block needs view permission on the model
    behind it (superusers see all); arbiters get their queue."""
    board = Dashboard()
    if may_view(user, LedgerAccount):
        board.escrow = escrow_held()
        board.blocks.append("escrow")
    if may_view(user, Dispute):
        board.disputes = dispute_figures()
        board.blocks.append("disputes")
    if may_view(user, Payout):
        board.payouts = payout_figures()
        board.blocks.append("payouts")
    if may_view(user, ChainCursor):
        board.chain = chain_sync()
        board.blocks.append("chain")
    if may_view(user, ReconciliationReport):
        board.reconciliation = latest_reconciliation()
        board.shows_reconciliation = True
        board.blocks.append("reconciliation")
    if may_view(user, PeriodicRun):
        board.periodic = periodic_figures()
        board.blocks.append("periodic")
    if user.is_arbiter:
        board.queue = queue_figures(user)
        board.blocks.append("queue")
    return board
