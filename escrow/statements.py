"""A user's statement: every transfer touching their own accounts, in words.

One line per account a transfer touches (a payout hold ending moves money from
the user's *pending* to their *available* account: two lines). Descriptions
come from the transfer's idempotency key, which names its cause
("release:<milestone>", "payout:<payout>" ...; see README, Money), so a page
of lines costs a fixed number of queries however long it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, overload

from django.db.models import F, IntegerField, Prefetch, Q, QuerySet, Sum, Value
from django.utils import timezone
from django.utils.dateformat import format as format_date

from escrow.models import Funding, FundingItem, LedgerAccount, Refund, Release, Transfer
from marketplace.models import Milestone, User
from marketplace.money import format_amount

Kind = LedgerAccount.Kind
USER_KINDS = (Kind.AVAILABLE, Kind.PENDING)
KIND_WORDS: dict[str, str] = {Kind.AVAILABLE: "Available", Kind.PENDING: "Pending"}
CREDIT, DEBIT = 1, -1
CSV_CHUNK = 500
# Chain-rail transfers (keys from escrow.chain.apply_common.transfer_key) by leg; their
# memos already say what happened in words.
CHAIN_LEG_TYPES = {
    "fund": "funding",
    "release": "release",
    "fee": "fee",
    "return": "return",
    "refund": "refund",
    "withdraw": "chain_withdrawal",
    "shortfall": "chain_credit",
}
# Key prefixes whose second part is a milestone id.
MILESTONE_KEYS = ("fund", "fund-balance", "release", "fee", "return", "refund")


@dataclass(frozen=True)
class StatementLine:
    transfer_id: int
    created_at: datetime
    type: str
    description: str
    amount: int  # signed from the user's side: + money in, - money out
    currency: str
    account_kind: str
    balance_after: int  # this account's balance right after the transfer
    reference: str  # the transfer's idempotency key, quoted on receipts and in support

    @property
    def amount_display(self) -> str:
        sign = "+" if self.amount > 0 else "\u2212"
        return sign + format_amount(abs(self.amount), self.currency)

    @property
    def balance_after_display(self) -> str:
        return format_amount(self.balance_after, self.currency)

    @property
    def account_kind_display(self) -> str:
        return KIND_WORDS.get(self.account_kind, self.account_kind)

    @property
    def is_credit(self) -> bool:
        return self.amount > 0


def _start(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
    return timezone.make_aware(datetime.combine(moment, time.min))


def _end(moment: date | datetime) -> datetime:
    """``until`` is inclusive: a date means the end of that day."""
    if isinstance(moment, datetime):
        return _start(moment) + timedelta(microseconds=1)
    return _start(moment + timedelta(days=1))


def transactions(
    user: User,
    *,
    currency: str | None = None,
    kind: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> Statement:
    """The user's statement, newest first; ``kind`` is the account (available/pending),
    ``since`` and ``until`` are inclusive. Lazy: slice it (a paginator does) or iterate."""
    if kind is not None and kind not in USER_KINDS:
        raise ValueError(f"kind is one of {USER_KINDS}")
    accounts = LedgerAccount.objects.filter(owner=user, kind__in=USER_KINDS)
    if currency:
        accounts = accounts.filter(currency=currency)
    if kind:
        accounts = accounts.filter(kind=kind)
    transfers = Transfer.objects.all()
    if since is not None:
        transfers = transfers.filter(created_at__gte=_start(since))
    if until is not None:
        transfers = transfers.filter(created_at__lt=_end(until))
    return Statement(accounts, transfers)


ENTRY_FIELDS = (
    "transfer_id",
    "created_at",
    "amount",
    "currency",
    "idempotency_key",
    "memo",
    "source_id",
    "destination_id",
    "account_id",
    "direction",
)


class Statement:
    """Statement lines as a lazy sequence: ``len()`` is one COUNT query and each
    slice a fixed number of queries, so Django's and DRF's paginators page it."""

    def __init__(self, accounts: QuerySet[LedgerAccount], transfers: QuerySet[Transfer]) -> None:
        self._accounts_query = accounts
        self._transfers = transfers
        self._accounts: dict[int, LedgerAccount] | None = None
        self._count: int | None = None

    @property
    def accounts(self) -> dict[int, LedgerAccount]:
        if self._accounts is None:
            self._accounts = {account.pk: account for account in self._accounts_query}
        return self._accounts

    def _entries(self) -> QuerySet[Any]:
        """(transfer, account, direction) rows: credits UNION ALL debits."""
        ids = list(self.accounts)

        def leg(field: str, direction: int) -> QuerySet[Any]:
            return (
                self._transfers.filter(**{f"{field}__in": ids})
                .annotate(
                    transfer_id=F("pk"),
                    account_id=F(f"{field}_id"),
                    direction=Value(direction, output_field=IntegerField()),
                )
                .values(*ENTRY_FIELDS)
                .order_by()  # a compound statement takes one ORDER BY, at the end
            )

        # Newest first; a transfer between two of the user's accounts shows its credit first.
        return (
            leg("destination", CREDIT)
            .union(leg("source", DEBIT), all=True)
            .order_by("-created_at", "-transfer_id", "-direction")
        )

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._entries().count() if self.accounts else 0
        return self._count

    def count(self) -> int:
        return len(self)

    @overload
    def __getitem__(self, index: int) -> StatementLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[StatementLine]: ...

    def __getitem__(self, index: int | slice) -> StatementLine | list[StatementLine]:
        if isinstance(index, int):
            lines = self[index : index + 1]
            if not lines:
                raise IndexError(index)
            return lines[0]
        if not self.accounts:
            return []
        rows = list(self._entries()[index])
        return _lines(rows, self.accounts) if rows else []

    def __iter__(self) -> Iterator[StatementLine]:
        start = 0
        while True:
            chunk = self[start : start + CSV_CHUNK]
            yield from chunk
            if len(chunk) < CSV_CHUNK:
                return
            start += CSV_CHUNK


# --- running balances ---------------------------------------------------------------


def _older_sums(bottom: dict[str, Any], account_ids: set[int]) -> dict[int, int]:
    """Each account's balance just before the page's oldest line: the sum of every
    older transfer (date filters don't apply: a balance counts all of history)."""
    older = Transfer.objects.filter(
        Q(created_at__lt=bottom["created_at"])
        | Q(created_at=bottom["created_at"], pk__lt=bottom["transfer_id"])
    )
    sums: dict[int, int] = defaultdict(int)
    credits = (
        older.filter(destination_id__in=account_ids)
        .values("destination_id")
        .annotate(total=Sum("amount"))
        .values_list("destination_id", "total")
    )
    debits = (
        older.filter(source_id__in=account_ids)
        .values("source_id")
        .annotate(total=Sum("amount"))
        .values_list("source_id", "total")
    )
    for account_id, total in credits:
        sums[account_id] += int(total)
    for account_id, total in debits:
        sums[account_id] -= int(total)
    # The oldest line's own transfer may also debit another of the user's accounts,
    # listed after it (on the next page): that debit happened at the same moment.
    if bottom["direction"] == CREDIT and bottom["source_id"] in account_ids:
        sums[bottom["source_id"]] -= int(bottom["amount"])
    return sums


# --- descriptions --------------------------------------------------------------------


@dataclass
class _Context:
    milestones: dict[int, str]
    releases_by_milestone: dict[int, Release]
    releases: dict[int, Release]
    fundings: dict[str, Funding]
    refunds: dict[int, Refund]


def _parts(key: str) -> tuple[str, list[str]]:
    prefix, *rest = key.split(":")
    return prefix, rest


def _int(raw: list[str], position: int = 0) -> int | None:
    try:
        return int(raw[position])
    except (IndexError, ValueError):
        return None


def _load_context(rows: list[dict[str, Any]]) -> _Context:
    milestone_ids: set[int] = set()
    release_milestones: set[int] = set()
    release_ids: set[int] = set()
    intents: set[str] = set()
    refund_ids: set[int] = set()
    for row in rows:
        prefix, rest = _parts(row["idempotency_key"])
        number = _int(rest, 1 if prefix in ("fund", "fund-balance") else 0)
        if prefix in MILESTONE_KEYS and number is not None:
            milestone_ids.add(number)
            if prefix == "release":
                release_milestones.add(number)
        elif prefix == "mature" and number is not None:
            release_ids.add(number)
        elif prefix == "charge" and rest:
            intents.add(":".join(rest))
        elif prefix in ("card-refund", "card-refund-back") and number is not None:
            refund_ids.add(number)
    context = _Context({}, {}, {}, {}, {})
    if milestone_ids:
        context.milestones = dict(
            Milestone.objects.filter(pk__in=milestone_ids).values_list("pk", "title")
        )
    if release_milestones or release_ids:
        for release in Release.objects.filter(
            Q(milestone_id__in=release_milestones) | Q(pk__in=release_ids)
        ).select_related("milestone"):
            context.releases[release.pk] = release
            context.releases_by_milestone[release.milestone_id] = release
    if intents:
        items = FundingItem.objects.select_related("milestone").order_by("milestone__position")
        for funding in Funding.objects.filter(payment_intent_id__in=intents).prefetch_related(
            Prefetch("items", queryset=items)
        ):
            context.fundings[str(funding.payment_intent_id)] = funding
    if refund_ids:
        context.refunds = {
            refund.pk: refund
            for refund in Refund.objects.filter(pk__in=refund_ids).select_related("milestone")
        }
    return context


def _day(moment: datetime) -> str:
    return format_date(timezone.localtime(moment), "j M Y")


def _quoted(title: str | None) -> str:
    return f"“{title}”" if title else "a milestone"


def _titles(funding: Funding | None) -> str:
    if funding is None:
        return "milestones"
    titles = [_quoted(item.milestone.title) for item in funding.items.all()]
    if len(titles) > 1:
        return f"{titles[0]} and {len(titles) - 1} more"
    return titles[0] if titles else "milestones"


def _describe_release(release: Release | None, title: str) -> str:
    if release is None:
        return f"Released from {title}"
    text = f"Released from {title}"
    if release.fee:
        text += (
            f": {format_amount(release.amount, release.currency)} less "
            f"{format_amount(release.fee, release.currency)} platform fee"
        )
    if release.status == Release.Status.PENDING:
        return f"{text} (pending until {_day(release.available_at)})"
    return f"{text} (available since {_day(release.available_at)})"


def _describe(row: dict[str, Any], kind: str, context: _Context) -> tuple[str, str]:
    """(type, description) of one line, from the transfer's key and memo."""
    prefix, rest = _parts(row["idempotency_key"])
    number = _int(rest, 1 if prefix in ("fund", "fund-balance") else 0)
    title = _quoted(context.milestones.get(number or 0))
    if prefix == "charge":
        return "card_payment", f"Card payment for {_titles(context.fundings.get(':'.join(rest)))}"
    if prefix == "fund":
        return "funding", f"Funded milestone {title}"
    if prefix == "fund-balance":
        return "funding", f"Funded milestone {title} from your balance"
    if prefix == "release":
        release = context.releases_by_milestone.get(number or 0)
        return "release", _describe_release(release, title)
    if prefix == "fee":
        return "fee", f"Platform fee on {title}"
    if prefix == "return":
        return "return", f"Unreleased part of {title} returned to you"
    if prefix == "mature":
        matured = context.releases.get(number or 0)
        name = _quoted(matured.milestone.title if matured else None)
        if kind == Kind.PENDING:
            return "available", f"Payout hold ended for {name}: moved to available"
        return "available", f"Now available to pay out: {name}"
    if prefix == "refund":
        return "refund", f"Refund of {title}"
    if prefix in ("card-refund", "card-refund-back"):
        refund = context.refunds.get(number or 0)
        name = _quoted(refund.milestone.title if refund else None)
        if prefix == "card-refund":
            return "card_refund", f"Refund of {name} sent to your card"
        return "card_refund_failed", f"Card refund of {name} failed: back in your balance"
    if prefix == "payout":
        return "payout", f"Payout to your bank account (payout {number})"
    if prefix == "payout-return":
        return "payout_return", f"Payout returned: payout {number} failed"
    if prefix == "reversal":
        return "payout_reversal", f"Payout reversed: payout {number} came back to your balance"
    if prefix == "chain":  # chain:<chain>:<block hash>:<tx>:<log index>:<leg>[:again<n>]
        leg = rest[4] if len(rest) > 4 else ""
        return CHAIN_LEG_TYPES.get(leg, "other"), row["memo"] or "On chain"
    if prefix == "reorg":
        return "chain_reorg", row["memo"] or "Reversed: the chain reorganised"
    return "other", row["memo"] or "Transfer"


def _lines(rows: list[dict[str, Any]], accounts: dict[int, LedgerAccount]) -> list[StatementLine]:
    page_accounts = {row["account_id"] for row in rows}
    running = _older_sums(rows[-1], page_accounts)
    context = _load_context(rows)
    balances: list[int] = []
    for row in reversed(rows):
        running[row["account_id"]] += row["direction"] * int(row["amount"])
        balances.append(running[row["account_id"]])
    balances.reverse()
    lines = []
    for row, balance_after in zip(rows, balances, strict=True):
        kind = accounts[row["account_id"]].kind
        line_type, description = _describe(row, kind, context)
        lines.append(
            StatementLine(
                transfer_id=row["transfer_id"],
                created_at=row["created_at"],
                type=line_type,
                description=description,
                amount=row["direction"] * int(row["amount"]),
                currency=row["currency"],
                account_kind=kind,
                balance_after=balance_after,
                reference=row["idempotency_key"],
            )
        )
    return lines
