"""Card rail: a funding is one PaymentIntent paying for one or more milestones."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.money import amount_field, currency_field


class Funding(models.Model):
    """The client pays for milestones: by card (a PaymentIntent) or from their balance.

    Milestones become funded only when the provider confirms the payment
    (``payment_intent.succeeded``); a balance funding is confirmed at once.
    """

    class Source(models.TextChoices):
        CARD = "card", "Card"
        BALANCE = "balance", "SmartPay balance"

    class Status(models.TextChoices):
        CREATED = "created", "Created — payment not started"
        PENDING = "pending", "Waiting for the card payment"
        SUCCEEDED = "succeeded", "Paid — money in escrow"
        FAILED = "failed", "Payment failed"
        CANCELED = "canceled", "Cancelled"

    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fundings"
    )
    contract = models.ForeignKey(
        "marketplace.Contract", on_delete=models.PROTECT, related_name="fundings"
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.CARD)
    provider = models.CharField(max_length=16, blank=True, help_text="stripe or sandbox")
    currency = currency_field()
    amount = amount_field()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    # Unique per client: the API's Idempotency-Key or a key the page generates.
    request_key = models.CharField(max_length=300, unique=True)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    client_secret = models.CharField(max_length=255, blank=True)
    checkout_url = models.CharField(max_length=500, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="funding_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Funding {self.pk} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.CREATED, self.Status.PENDING)


class FundingItem(models.Model):
    funding = models.ForeignKey(Funding, on_delete=models.CASCADE, related_name="items")
    milestone = models.ForeignKey(
        "marketplace.Milestone", on_delete=models.PROTECT, related_name="funding_items"
    )
    amount = amount_field()
    # True once this item's money reached the milestone's escrow.
    applied = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["funding", "milestone"], name="funding_item_once"),
            # A milestone's escrow is paid by one funding, whatever happened to others.
            models.UniqueConstraint(
                fields=["milestone"], condition=Q(applied=True), name="funding_applied_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} for milestone {self.milestone_id}"


class Refund(models.Model):
    """Money going back to the client's card (a Stripe Refund) or balance."""

    class Destination(models.TextChoices):
        CARD = "card", "Back to the card"
        BALANCE = "balance", "To the SmartPay balance"

    class Status(models.TextChoices):
        PENDING = "pending", "Being refunded to the card"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Card refund failed — kept in your balance"

    milestone = models.OneToOneField(
        "marketplace.Milestone", on_delete=models.PROTECT, related_name="refund"
    )
    funding = models.ForeignKey(
        Funding, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="refunds"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    destination = models.CharField(max_length=8, choices=Destination.choices)
    currency = currency_field()
    amount = amount_field()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider_refund_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Refund of milestone {self.milestone_id} ({self.get_status_display()})"


class RefundRequest(models.Model):
    """The client asks to cancel a funded milestone; the freelancer has
    ``REFUND_RESPONSE_DAYS`` to agree or dispute, and silence agrees (DESIGN.md)."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for the freelancer"
        ACCEPTED = "accepted", "Accepted — refunded"
        DECLINED = "declined", "Declined by the freelancer"
        WITHDRAWN = "withdrawn", "Withdrawn by the client"
        LAPSED = "lapsed", "Closed — the milestone moved on"

    milestone = models.ForeignKey(
        "marketplace.Milestone", on_delete=models.PROTECT, related_name="refund_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    destination = models.CharField(max_length=8, choices=Refund.Destination.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    respond_by = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone"], condition=Q(status="open"), name="one_open_refund_request"
            ),
        ]

    def __str__(self) -> str:
        return f"Refund request for milestone {self.milestone_id} ({self.status})"


class EscrowHold(models.Model):
    """A freeze on a milestone's escrow (a card chargeback); money moves again only
    after staff lift it."""

    milestone = models.ForeignKey(
        "marketplace.Milestone", on_delete=models.PROTECT, related_name="escrow_holds"
    )
    reason = models.CharField(max_length=300)
    # The provider's object behind the hold, e.g. a Stripe dispute id; unique per milestone.
    cause = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["milestone", "cause"], name="escrow_hold_once"),
        ]

    def __str__(self) -> str:
        return f"Hold on milestone {self.milestone_id}: {self.reason}"
