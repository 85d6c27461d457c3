"""The double-entry ledger shared by both rails.

Balances are whole minor units (cents, wei) in NUMERIC(78, 0). Only
``escrow.ledger.move`` writes ``LedgerAccount.balance`` or creates a ``Transfer``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.money import Rail, amount_field, currency_field


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        AVAILABLE = "available", "Available to the user"
        PENDING = "pending", "Pending (payout hold)"
        ESCROW = "escrow", "Held in escrow for a milestone"
        FEES = "fees", "Platform fees"
        EXTERNAL = "external", "Outside the system (a rail)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    currency = currency_field()
    rail = models.CharField(max_length=8, choices=Rail.choices, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    milestone = models.ForeignKey(
        "marketplace.Milestone",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    balance = amount_field(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Only the external accounts (money outside the system) go below zero.
            models.CheckConstraint(
                condition=Q(kind="external") | Q(balance__gte=0),
                name="ledger_balance_not_negative",
            ),
            models.UniqueConstraint(
                fields=["owner", "kind", "currency"],
                condition=Q(kind__in=["available", "pending"]),
                name="ledger_one_user_account_per_kind_currency",
            ),
            models.UniqueConstraint(
                fields=["milestone"],
                condition=Q(kind="escrow"),
                name="ledger_one_escrow_per_milestone",
            ),
            models.UniqueConstraint(
                fields=["kind", "currency"],
                condition=Q(kind="fees"),
                name="ledger_one_fee_account_per_currency",
            ),
            models.UniqueConstraint(
                fields=["rail", "currency"],
                condition=Q(kind="external"),
                name="ledger_one_external_per_rail_currency",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind__in=["available", "pending"],
                        owner__isnull=False,
                        milestone__isnull=True,
                    )
                    | Q(kind="escrow", milestone__isnull=False, owner__isnull=True)
                    | Q(kind="fees", owner__isnull=True, milestone__isnull=True)
                    | Q(kind="external", owner__isnull=True, milestone__isnull=True) & ~Q(rail="")
                ),
                name="ledger_account_shape",
            ),
        ]

    def __str__(self) -> str:
        whose = self.owner_id or self.milestone_id or self.rail or "platform"
        return f"{self.kind}:{whose}:{self.currency}"


class Transfer(models.Model):
    """An immutable movement of money; corrections are new transfers."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    source = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="debits")
    destination = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="credits")
    amount = amount_field()
    currency = currency_field()
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=~Q(source=models.F("destination")), name="transfer_two_accounts"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.source_id}->{self.destination_id}"
