"""``/metrics`` for Prometheus: django-prometheus's request, response and process
metrics, plus the platform's business figures, computed at scrape time from the same
queries as the ops console (``smartpay.dashboard``), in a fixed number of queries.

Who may scrape: a request with ``Authorization: Bearer <METRICS_TOKEN>``, or one whose
address is inside ``METRICS_ALLOWED_NETWORKS`` (loopback by default, nothing when
``HTTPS=true``). A wrong token is refused even from an allowed network, so a scraper
with a stale token is noticed rather than let in by its address.

Amounts are integer minor units (cents); timestamps are Unix seconds, so an age is
``time() - smartpay_..._timestamp_seconds`` in PromQL.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from disputes.models import Dispute
from smartpay import dashboard
from smartpay.models import PeriodicRun

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- the business figures -----------------------------------------------------------


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    """Every family this collector exposes, empty: ``describe`` lists them without a
    query, and ``collect`` fills them in."""
    chain = ("chain_id", "address")
    families: list[GaugeMetricFamily | CounterMetricFamily] = [
        _gauge(
            "smartpay_escrow_held_minor_units",
            "Money held in milestone escrow, in minor units (cents).",
            ("currency", "rail"),
        ),
        _gauge(
            "smartpay_escrow_held_milestones",
            "Milestones with money in escrow.",
            ("currency", "rail"),
        ),
        _gauge("smartpay_disputes_open", "Disputes not closed for good, by status.", ("status",)),
        _gauge("smartpay_disputes_overdue", "Open disputes past a response or decision deadline."),
        _gauge("smartpay_disputes_unassigned", "Escalated disputes waiting for an arbiter."),
        _gauge("smartpay_payouts_failed", "Payouts that failed for good (money returned)."),
        _gauge("smartpay_payouts_retrying", "Payouts waiting for another attempt."),
        _gauge(
            "smartpay_chain_sync_lag_blocks",
            "Blocks between the node's head and what chain sync has read.",
            chain,
        ),
        _gauge(
            "smartpay_chain_sync_last_success_timestamp_seconds",
            "When chain sync last finished a pass for the contract.",
            chain,
        ),
        _gauge("smartpay_chain_sync_error", "1 when the last chain sync pass failed.", chain),
        _gauge(
            "smartpay_reconciliation_last_run_timestamp_seconds",
            "When the latest reconciliation started.",
        ),
        _gauge(
            "smartpay_reconciliation_ok",
            "1 when the latest reconciliation finished and found nothing wrong.",
        ),
        _gauge(
            "smartpay_reconciliation_problems",
            "Problems found by the latest reconciliation.",
        ),
        _gauge(
            "smartpay_reconciliation_drift_minor_units",
            "Provider minus ledger in the latest reconciliation, in minor units.",
            ("rail", "currency"),
        ),
        _gauge(
            "smartpay_periodic_last_success_timestamp_seconds",
            "When the periodic task last succeeded.",
            ("task",),
        ),
        _gauge(
            "smartpay_periodic_last_started_timestamp_seconds",
            "When the periodic task last started.",
            ("task",),
        ),
        CounterMetricFamily(
            "smartpay_periodic_failures",
            "Runs of the periodic task that failed.",
            labels=["task"],
        ),
        _gauge(
            "smartpay_business_metrics_up",
            "1 when the figures above could be read from the database.",
        ),
    ]
    return {family.name: family for family in families}


class BusinessCollector(Collector):
    """The ops console's figures as Prometheus metrics, read at scrape time."""

    def describe(self) -> Iterable[Metric]:
        # Registration asks for the names; answering here keeps it from querying.
        return list(_families().values())

    def collect(self) -> Iterable[Metric]:
        families = _families()
        try:
            fill_figures(families)
            families["smartpay_business_metrics_up"].add_metric([], 1)
        except DatabaseError:
            # The request metrics are still worth a scrape while the database is down.
            log.exception("Business metrics could not be read")
            families = _families()
            families["smartpay_business_metrics_up"].add_metric([], 0)
        return list(families.values())


def fill_figures(families: dict[str, GaugeMetricFamily | CounterMetricFamily]) -> None:
    """Eight queries, whatever the data."""
    for line in dashboard.escrow_held():
        families["smartpay_escrow_held_minor_units"].add_metric(
            [line.currency, line.rail], line.total
        )
        families["smartpay_escrow_held_milestones"].add_metric(
            [line.currency, line.rail], line.milestones
        )

    by_status = (
        Dispute.objects.exclude(status__in=Dispute.FINAL)
        .values_list("status")
        .annotate(count=Count("pk"))
        .order_by("status")
    )
    for status, count in by_status:
        families["smartpay_disputes_open"].add_metric([status], count)
    disputes = dashboard.dispute_figures()
    families["smartpay_disputes_overdue"].add_metric([], disputes.overdue)
    families["smartpay_disputes_unassigned"].add_metric([], disputes.unassigned)

    payouts = dashboard.payout_figures()
    families["smartpay_payouts_failed"].add_metric([], payouts.failed)
    families["smartpay_payouts_retrying"].add_metric([], payouts.retrying)

    for cursor in dashboard.chain_sync():
        labels = [str(cursor.chain_id), cursor.address.lower()]
        families["smartpay_chain_sync_lag_blocks"].add_metric(labels, cursor.lag)
        families["smartpay_chain_sync_error"].add_metric(labels, 1 if cursor.last_error else 0)
        if cursor.last_synced_at is not None:
            families["smartpay_chain_sync_last_success_timestamp_seconds"].add_metric(
                labels, cursor.last_synced_at.timestamp()
            )

    report = dashboard.latest_reconciliation()
    if report is not None:
        families["smartpay_reconciliation_last_run_timestamp_seconds"].add_metric(
            [], report.started_at.timestamp()
        )
        families["smartpay_reconciliation_ok"].add_metric(
            [], 1 if report.finished and report.ok else 0
        )
        families["smartpay_reconciliation_problems"].add_metric([], len(report.problems))
        for key, drift in sorted(report.drift_amounts.items()):
            rail, _, currency = key.partition(":")
            families["smartpay_reconciliation_drift_minor_units"].add_metric(
                [rail, currency], drift
            )

    for run in PeriodicRun.objects.order_by("name"):
        if run.last_success_at is not None:
            families["smartpay_periodic_last_success_timestamp_seconds"].add_metric(
                [run.name], run.last_success_at.timestamp()
            )
        if run.last_started_at is not None:
            families["smartpay_periodic_last_started_timestamp_seconds"].add_metric(
                [run.name], run.last_started_at.timestamp()
            )
        families["smartpay_periodic_failures"].add_metric([run.name], run.failures)


_registered: set[int] = set()


def register_business_metrics(registry: CollectorRegistry = REGISTRY) -> None:
    """Add the collector to ``registry`` once (``AppConfig.ready`` may run again in
    tests, and a second registration would be refused as duplicate names)."""
    if id(registry) in _registered:
        return
    # ValueError: registered by an earlier import of this module (a reload).
    with contextlib.suppress(ValueError):
        registry.register(BusinessCollector())
    _registered.add(id(registry))


# --- who may scrape -----------------------------------------------------------------


@lru_cache(maxsize=8)
def allowed_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def _networks() -> tuple[Network, ...]:
    return allowed_networks(tuple(settings.METRICS_ALLOWED_NETWORKS))


def address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # "::ffff:127.0.0.1" from a dual-stack listener
    return any(ip in network for network in _networks())


def bearer_token(request: HttpRequest) -> str | None:
    """The token after ``Bearer``, or None when no Authorization header was sent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def may_scrape(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    given = bearer_token(request)
    if given is not None:
        # Compared in constant time; a wrong or unexpected token is refused outright.
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
    return address_allowed(request.META.get("REMOTE_ADDR", ""))


def check_metrics_settings(**_: object) -> list[CheckMessage]:
    """Refuse to start with a network that can't be read, rather than fail each scrape."""
    errors: list[CheckMessage] = []
    for entry in settings.METRICS_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"METRICS_ALLOWED_NETWORKS has {entry!r}, which is not an address or network.",
                    hint="Use CIDR notation, e.g. 10.0.0.0/8,127.0.0.1/32.",
                    id="smartpay.E101",
                )
            )
    return errors


# --- the view -----------------------------------------------------------------------


def _registry() -> CollectorRegistry:
    """The process's registry, or, under a multi-process server, one that merges the
    processes' files and adds the business figures (read once, not per process)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(BusinessCollector())
    return registry


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return JsonResponse(
            {
                "code": "permission_denied",
                "detail": "Metrics need a bearer token or an allowed network.",
            },
            status=403,
        )
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
