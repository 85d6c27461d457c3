"""Releases (escrow -> freelancer, pending for the hold) and payouts (available -> bank)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.money import amount_field, currency_field


class Release(models.Model):
    """A milestone's escrow paid out: the freelancer's share, the fee, and what went back.

    ``freelancer_amount`` sits in the freelancer's *pending* account until
    ``available_at``; the settlement task then moves it to *available*.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending — on hold before payout"
        AVAILABLE = "available", "Available to pay out"

    milestone = models.OneToOneField(
        "marketplace.Milestone", on_delete=models.PROTECT, related_name="release"
    )
    freelancer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="releases"
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the review window ran out (auto-release).",
    )
    currency = currency_field()
    amount = amount_field(help_text="Released from escrow: freelancer share + fee.")
    fee = amount_field()
    fee_bps = models.PositiveIntegerField()
    freelancer_amount = amount_field()
    returned_amount = amount_field(help_text="Escrow not released, back to the client.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    available_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(freelancer_amount__gte=0, fee__gte=0, returned_amount__gte=0),
                name="release_parts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Release of milestone {self.milestone_id}"


class PayoutAccount(models.Model):
    """A freelancer's connected account (Stripe Connect Express, or the sandbox's)."""

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding not finished"
        ENABLED = "enabled", "Ready for payouts"
        RESTRICTED = "restricted", "Restricted — Stripe needs more information"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_account"
    )
    provider = models.CharField(max_length=16)
    account_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ONBOARDING)
    payouts_enabled = models.BooleanField(default=False)
    requirements_due = models.JSONField(default=list, blank=True)
    auto_payout_weekly = models.BooleanField(
        default=False, help_text="Pay out the whole available balance every Monday."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.account_id} ({self.get_status_display()})"


class Payout(models.Model):
    """Available balance sent to the freelancer's connected account by a Transfer.

    The ledger moves available -> external when the payout is requested, so the
    money can't be spent twice; a permanent failure moves it back.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Failed — will retry"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed — returned to your balance"
        REVERSED = "reversed", "Reversed — returned to your balance"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    account = models.ForeignKey(PayoutAccount, on_delete=models.PROTECT, related_name="payouts")
    currency = currency_field()
    amount = amount_field()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    automatic = models.BooleanField(default=False)
    request_key = models.CharField(max_length=300, unique=True)
    provider_transfer_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    failure_message = models.CharField(max_length=500, blank=True)
    reversed_amount = amount_field(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Payout {self.pk} ({self.get_status_display()})"
