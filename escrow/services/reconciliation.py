"""Reconciliation: the ledger checked against itself and against the card provider.

Checks the invariants of DESIGN.md — balances sum to zero per currency, no
escrow or user balance below zero, every balance explained by its transfers,
each milestone's escrow equal to its amount while it holds money and zero after
— and compares the card rail's external account with the provider's balance
transactions. The result is a ``ReconciliationReport`` staff read in the admin;
any breach is also e-mailed to the admins and logged at ERROR.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.core.mail import mail_admins
from django.db import connection, transaction
from django.db.models import CharField, Exists, OuterRef, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from escrow import ledger
from escrow.chain import reconcile as chain_reconcile
from escrow.models import (
    Funding,
    LedgerAccount,
    Payout,
    ReconciliationReport,
    Refund,
    Transfer,
    WebhookEvent,
)
from escrow.rails import BalanceEntry, RailError, card_provider
from escrow.services import audited
from marketplace.models import Milestone, User
from marketplace.money import CURRENCIES, Rail, format_amount
from smartpay import audit

log = logging.getLogger(__name__)
Kind = LedgerAccount.Kind

# While a milestone is in one of these, its escrow holds exactly its amount.
HOLDING = (Milestone.Status.FUNDED, Milestone.Status.SUBMITTED, Milestone.Status.DISPUTED)
# Provider balance transactions that move money between the platform's provider
# balance and its own bank or the provider's fees: outside the ledger by design.
PLATFORM_ONLY_TYPES = frozenset(
    {
        "payout",
        "payout_cancel",
        "payout_failure",
        "payout_minimum_balance_hold",
        "payout_minimum_balance_release",
        "stripe_fee",
        "stripe_fx_fee",
        "tax_fee",
        "reserve_transaction",
        "reserved_funds",
    }
)
CHARGE_TYPES = frozenset({"charge", "payment"})
# A long list of unmatched objects helps nobody; the drift figure says the rest.
MAX_LISTED = 20
# Reads of the chain before giving up on a chain sync that keeps committing.
CHAIN_READS = 3


def money(amount: int, currency: str) -> str:
    """``-1050, "usd"`` -> ``-$10.50``; a currency we don't know shows in minor units."""
    if currency not in CURRENCIES:
        return f"{amount} {currency} (minor units)"
    return ("-" if amount < 0 else "") + format_amount(abs(amount), currency)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)  # the subset staff are alerted about
    drift: dict[str, dict[str, int]] = field(default_factory=dict)
    checked_transfers: int = 0
    checked_provider_entries: int = 0

    def breach(self, sentence: str) -> None:
        self.problems.append(sentence)
        self.breaches.append(sentence)


def reconcile(*, now: datetime | None = None, actor: User | None = None) -> ReconciliationReport:
    """Run every check and store what was found; returns the finished report.

    The provider and the chain are read first, outside any transaction; the ledger is
    then read in one snapshot so a transfer committing meanwhile can't look like drift.
    The chain is read at the block chain sync has applied; if sync commits more before
    the snapshot starts, the chain is read again.
    ``now`` stamps the report's finish (tests pass a fixed time).
    The audit log gets the runs that found a problem, and every run staff start
    (``actor``); a clean scheduled run leaves only its report.
    """
    report = ReconciliationReport.objects.create()
    findings = Findings()
    entries: list[BalanceEntry] | None
    try:
        entries = list(card_provider().list_balance_transactions())
    except RailError as error:
        entries = None
        findings.problems.append(
            f"Could not read the card provider's balance transactions: {error.message}"
        )
    for attempt in range(1, CHAIN_READS + 1):
        chain_view, chain_problem = read_chain_rail()
        with ledger_snapshot():
            if chain_view is not None and not chain_reconcile.still_current(chain_view):
                if attempt < CHAIN_READS:
                    continue  # chain sync applied more meanwhile: read the chain again
                chain_view, chain_problem = None, "Chain not checked: chain sync kept moving."
            findings.checked_transfers = Transfer.objects.count()
            for sentence in ledger.find_problems():
                findings.breach(sentence)
            check_escrow_held(findings)
            if entries is not None:
                findings.checked_provider_entries = len(entries)
                compare_card_rail(findings, entries)
            if chain_problem:
                findings.problems.append(chain_problem)
            elif chain_view is not None:
                compare_chain_rail(findings, chain_view)
        break
    report.ok = not findings.problems
    report.problems = findings.problems
    report.drift = findings.drift
    report.checked_transfers = findings.checked_transfers
    report.checked_provider_entries = findings.checked_provider_entries
    report.finished_at = now or timezone.now()
    with transaction.atomic():
        report.save()
        if not report.ok or actor is not None:
            action = "reconciliation.ran" if report.ok else "reconciliation.drift_found"
            audit.record(actor, action, report, after=audit.snapshot(report, audited.REPORT))
    if findings.breaches:
        alert_staff(report, findings.breaches)
    elif findings.problems:
        log.warning("reconciliation %s incomplete: %s", report.pk, "; ".join(findings.problems))
    return report


@contextmanager
def ledger_snapshot() -> Iterator[None]:
    """One consistent view of the ledger for all the queries of a run.

    PostgreSQL's default READ COMMITTED would let each query see a newer state;
    REPEATABLE READ reads every query from the transaction's first snapshot.
    SQLite's transaction is a snapshot already (an IMMEDIATE one here, so writers
    wait the few milliseconds these reads take).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


# --- invariant 3: escrow per milestone ------------------------------------------------------


def check_escrow_held(findings: Findings) -> None:
    """Each milestone's escrow equals its amount while funded, submitted or disputed,
    and is zero in every other state."""
    accounts = (
        LedgerAccount.objects.filter(kind=Kind.ESCROW)
        .values_list(
            "milestone_id",
            "milestone__title",
            "milestone__status",
            "milestone__amount",
            "currency",
            "balance",
        )
        .order_by("milestone_id")
    )
    for milestone_id, title, status, amount, currency, balance in accounts.iterator():
        expected = int(amount) if status in HOLDING else 0
        if int(balance) != expected:
            findings.breach(
                f"Milestone {milestone_id} “{title}” is {status}: its escrow should hold "
                f"{money(expected, currency)} but holds {money(int(balance), currency)}."
            )
    # A card milestone that holds money must have an escrow account at all (chain
    # milestones are held by the contract and mirrored only once chain sync sees them).
    has_escrow = LedgerAccount.objects.filter(kind=Kind.ESCROW, milestone=OuterRef("pk"))
    missing = (
        Milestone.objects.filter(status__in=HOLDING, contract__rail=Rail.CARD)
        .exclude(Exists(has_escrow))
        .values_list("pk", "title", "status", "amount", "contract__currency")
        .order_by("pk")
    )
    for milestone_id, title, status, amount, currency in missing.iterator():
        findings.breach(
            f"Milestone {milestone_id} “{title}” is {status} but nothing is in escrow for it "
            f"(it should hold {money(int(amount), currency)})."
        )


# --- invariant 4: the card rail against the provider ----------------------------------------


def compare_card_rail(findings: Findings, entries: list[BalanceEntry]) -> None:
    """Per currency: what the provider says entered through the rail (charges and
    reversals in, refunds and transfers out) must equal what our external card
    account says, less what the ledger has sent but the provider not yet seen."""
    provider_net: dict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.type not in PLATFORM_ONLY_TYPES:
            provider_net[entry.currency.lower()] += int(entry.amount)
    ledger_net = {
        currency: -int(balance)
        for currency, balance in LedgerAccount.objects.filter(
            kind=Kind.EXTERNAL, rail=Rail.CARD
        ).values_list("currency", "balance")
    }
    in_flight = money_in_flight()
    for currency in sorted(set(provider_net) | set(ledger_net)):
        ours, theirs = ledger_net.get(currency, 0), provider_net.get(currency, 0)
        pending = in_flight.get(currency, 0)
        drift = theirs - ours - pending
        findings.drift[f"card:{currency}"] = {
            "ledger": ours,
            "provider": theirs,
            "in_flight": pending,
            "drift": drift,
        }
        if drift:
            findings.breach(
                f"Card rail, {currency.upper()}: the provider's balance transactions net "
                f"{money(theirs, currency)} but the ledger's card account says "
                f"{money(ours, currency)}"
                + (f" with {money(pending, currency)} not yet sent" if pending else "")
                + f": a drift of {money(drift, currency)}."
            )
    drifting = {key.partition(":")[2] for key, row in findings.drift.items() if row["drift"]}
    if drifting:
        match_charges(findings, [e for e in entries if e.type in CHARGE_TYPES], drifting)


def money_in_flight() -> dict[str, int]:
    """Money the ledger has already moved out to the rail that the provider has not
    acted on yet: payouts waiting to be sent (the ledger moves them at request)
    and card refunds booked but not yet accepted by the provider."""
    pending: dict[str, int] = defaultdict(int)
    payouts = (
        Payout.objects.filter(
            status__in=[Payout.Status.QUEUED, Payout.Status.SENDING, Payout.Status.RETRYING],
            provider_transfer_id__isnull=True,
        )
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    for row in payouts:
        pending[row["currency"]] += int(row["total"])
    booked = Transfer.objects.filter(
        idempotency_key=Concat(Value("card-refund:"), Cast(OuterRef("pk"), CharField()))
    )
    refunds = (
        Refund.objects.filter(
            Exists(booked),
            destination=Refund.Destination.CARD,
            status=Refund.Status.PENDING,
            provider_refund_id__isnull=True,
        )
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    for row in refunds:
        pending[row["currency"]] += int(row["total"])
    return dict(pending)


def match_charges(findings: Findings, charges: list[BalanceEntry], currencies: set[str]) -> None:
    """Name the objects that may explain a drift in ``currencies``: a provider charge
    no funding of ours asked for, a charge whose success we never booked, a funding
    we booked that the provider never charged.

    A balance transaction names the charge (``ch_...``) and a funding its payment
    intent; the stored ``payment_intent.succeeded`` events join the two.
    """
    charge_to_intent: dict[str, str] = dict(
        WebhookEvent.objects.filter(type="payment_intent.succeeded").values_list(
            "payload__data__object__latest_charge", "payload__data__object__id"
        )
    )
    fundings = {
        intent: (pk, status)
        for intent, pk, status in Funding.objects.filter(
            currency__in=currencies, payment_intent_id__isnull=False
        ).values_list("payment_intent_id", "pk", "status")
    }
    listed: list[str] = []
    charged_intents = set()
    for entry in charges:
        currency = entry.currency.lower()
        if currency not in currencies:
            continue
        amount = money(int(entry.amount), currency)
        intent = charge_to_intent.get(entry.source)
        if intent is None:
            listed.append(
                f"The provider charged {amount} ({entry.source}) but no payment_intent.succeeded "
                "event we stored names that charge."
            )
            continue
        charged_intents.add(intent)
        funding_id, status = fundings.get(intent, (None, ""))
        if funding_id is None:
            listed.append(f"The provider charged {amount} ({intent}) for no funding of ours.")
        elif status != Funding.Status.SUCCEEDED:
            listed.append(
                f"The provider charged {amount} for funding {funding_id} ({intent}), which is "
                f"still {status}: its payment_intent.succeeded event has not been processed."
            )
    known_intents = set(charge_to_intent.values())
    booked = (
        Funding.objects.filter(
            source=Funding.Source.CARD, status=Funding.Status.SUCCEEDED, currency__in=currencies
        )
        .values_list("pk", "payment_intent_id", "amount", "currency")
        .order_by("pk")
    )
    for funding_id, intent, amount, currency in booked.iterator():
        if intent in known_intents and intent not in charged_intents:
            listed.append(
                f"Funding {funding_id} is paid in our books ({money(int(amount), currency)}, "
                f"{intent}) but the provider shows no charge for it."
            )
    for sentence in listed[:MAX_LISTED]:
        findings.breach(sentence)
    if len(listed) > MAX_LISTED:
        findings.breach(f"… and {len(listed) - MAX_LISTED} more unmatched provider objects.")


# --- invariant 4: the chain rail against the contract ---------------------------------------


def read_chain_rail() -> tuple[chain_reconcile.ChainView | None, str]:
    """The contract's view at chain sync's block, or why it could not be read. None
    and no reason: there is nothing on the chain rail to check."""
    try:
        return chain_reconcile.read_chain(), ""
    except chain_reconcile.ChainNotChecked as error:
        return None, f"Chain not checked: {error}."


def compare_chain_rail(findings: Findings, view: chain_reconcile.ChainView) -> None:
    found = chain_reconcile.compare(view)
    findings.drift.update(found.drift)
    for sentence in found.breaches:
        findings.breach(sentence)


# --- telling staff ----------------------------------------------------------------------------


def alert_staff(report: ReconciliationReport, breaches: list[str]) -> None:
    """Negative or unexplained balances must reach a person the same hour
    (Poloniex's audit never looked): log at ERROR and e-mail the admins."""
    summary = f"Reconciliation {report.pk} found {len(breaches)} problem(s)"
    log.error("%s: %s", summary, "; ".join(breaches))
    body = "\n".join(f"- {sentence}" for sentence in breaches)
    mail_admins(summary, f"{body}\n\nThe full report is in the admin.", fail_silently=True)


# --- reading a report -------------------------------------------------------------------------


def describe_drift(report: ReconciliationReport) -> list[str]:
    """One sentence per rail and currency, for the admin and the command."""
    lines = []
    for rail_currency, figures in sorted(report.drift.items()):
        rail, _, currency = rail_currency.partition(":")
        if rail == "chain":
            lines.append(describe_chain_drift(currency, figures))
            continue
        line = (
            f"{rail_currency}: the ledger says {money(figures['ledger'], currency)} came in "
            f"through the rail, the provider {money(figures['provider'], currency)}"
        )
        if figures.get("in_flight"):
            line += f", {money(figures['in_flight'], currency)} on its way out"
        drift = figures["drift"]
        line += f" — drift {money(drift, currency)}." if drift else " — no drift."
        lines.append(line)
    return lines


def describe_chain_drift(currency: str, figures: dict[str, int]) -> str:
    drift = figures["drift"]
    return (
        f"chain:{currency}: the ledger's available balances and fees come to "
        f"{money(figures['ledger'], currency)}, the contract's credits to "
        f"{money(figures['provider'], currency)}"
        + (f" — drift {money(drift, currency)}." if drift else " — no drift.")
    )
