"""The arbiter queue's filters: mine, overdue, rail, amount (size buckets per currency),
open or closed. Each is a query-string parameter the ops dashboard links to."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from disputes import selectors
from disputes.models import Dispute
from marketplace.money import CURRENCIES, Rail, format_amount, to_minor_units

# Bucket edges in each currency's major unit: small < first <= medium < second <= large
# < third <= very large. Ether is worth far more per unit than the others.
EDGES: dict[str, tuple[str, str, str]] = {
    "usd": ("100", "1000", "10000"),
    "eur": ("100", "1000", "10000"),
    "gbp": ("100", "1000", "10000"),
    "usdc": ("100", "1000", "10000"),
    "eth": ("0.05", "0.5", "5"),
}
BUCKETS = (
    ("small", "Small", None, 0),
    ("medium", "Medium", 0, 1),
    ("large", "Large", 1, 2),
    ("very_large", "Very large", 2, None),
)


def edge(currency: str, index: int) -> int:
    return to_minor_units(Decimal(EDGES[currency][index]), currency)


def bucket_q(low: int | None, high: int | None) -> Q:
    """Disputes whose amount falls in [edge ``low``, edge ``high``) of their currency."""
    match = Q(pk__in=[])
    for currency in CURRENCIES:
        if currency not in EDGES:
            continue
        one = Q(milestone__contract__currency=currency)
        if low is not None:
            one &= Q(amount_in_dispute__gte=edge(currency, low))
        if high is not None:
            one &= Q(amount_in_dispute__lt=edge(currency, high))
        match |= one
    return match


def short_amount(amount: int, currency: str) -> str:
    """``$100``, ``Ξ0.05``: a bucket edge without trailing zeros."""
    shown = format_amount(amount, currency)
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def bucket_label(name: str, low: int | None, high: int | None) -> str:
    def shown(index: int) -> str:
        return (
            f"{short_amount(edge('usd', index), 'usd')} / {short_amount(edge('eth', index), 'eth')}"
        )

    if low is None:
        return f"{name} (under {shown(0 if high is None else high)})"
    if high is None:
        return f"{name} ({shown(low)} and more)"
    return f"{name} ({shown(low)} to {shown(high)})"


class MineFilter(admin.SimpleListFilter):
    title = "arbiter"
    parameter_name = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("mine", "Assigned to me"),
            ("decided", "Decided or confirmed by me"),
            ("unassigned", "Without an arbiter"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        user = request.user.pk  # the admin lets in only staff who signed in
        if self.value() == "mine":
            return queryset.filter(arbiter_id=user)
        if self.value() == "decided":
            return queryset.filter(Q(decided_by_id=user) | Q(second_arbiter_id=user))
        if self.value() == "unassigned":
            return queryset.filter(arbiter__isnull=True)
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        if self.value() == "yes":
            return selectors.overdue(queryset)
        if self.value() == "no":
            return queryset.exclude(pk__in=selectors.overdue(Dispute.objects.all()).values("pk"))
        return queryset


class RailFilter(admin.SimpleListFilter):
    title = "rail"
    parameter_name = "rail"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in Rail.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        if self.value() in Rail.values:
            return queryset.filter(milestone__contract__rail=self.value())
        return queryset


class CurrencyFilter(admin.SimpleListFilter):
    title = "currency"
    parameter_name = "currency"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(code, f"{code.upper()} — {spec.name}") for code, spec in CURRENCIES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        if self.value() in CURRENCIES:
            return queryset.filter(milestone__contract__currency=self.value())
        return queryset


class AmountFilter(admin.SimpleListFilter):
    """Size buckets of the amount in dispute, with edges per currency (``EDGES``)."""

    title = "amount in dispute"
    parameter_name = "amount"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, bucket_label(name, low, high)) for key, name, low, high in BUCKETS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        for key, _name, low, high in BUCKETS:
            if self.value() == key:
                return queryset.filter(bucket_q(low, high))
        return queryset


class StateFilter(admin.SimpleListFilter):
    """Coarser than the status: is anyone still working on the case?"""

    title = "open or closed"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("active", "Not closed"),
            ("arbitrating", "Waiting for an arbiter"),
            ("closed", "Closed"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        if self.value() == "active":
            return queryset.exclude(status__in=Dispute.FINAL)
        if self.value() == "arbitrating":
            return queryset.filter(status__in=Dispute.ARBITRATING)
        if self.value() == "closed":
            return queryset.filter(status__in=Dispute.FINAL)
        return queryset
