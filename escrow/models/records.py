"""What arrived from outside and what we concluded about it: webhook events,
the sandbox provider's objects, reconciliation reports."""

from __future__ import annotations

from django.db import models


class WebhookEvent(models.Model):
    """A provider event, stored once by its id before it is processed (Stripe keeps
    events only 30 days and redelivers for 3, unordered and sometimes twice)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Processed"
        FAILED = "failed", "Failed — will retry"
        IGNORED = "ignored", "Ignored (not a type we act on)"

    provider = models.CharField(max_length=16, default="stripe")
    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    created = models.PositiveBigIntegerField(help_text="The provider's timestamp (Unix seconds).")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class SandboxObject(models.Model):
    """The sandbox provider's copy of a Stripe object (payment intent, refund,
    account, transfer, balance transaction), kept so the embedded default can
    be reconciled like the real thing."""

    object_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, db_index=True)
    idempotency_key = models.CharField(max_length=300, null=True, blank=True, unique=True)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.object_id


class ReconciliationReport(models.Model):
    """One run of reconciliation: ledger invariants plus ledger vs provider."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    problems = models.JSONField(default=list, help_text="One sentence per problem found.")
    # {"card:usd": {"ledger": n, "provider": m, "drift": m - n}, ...}
    drift = models.JSONField(default=dict)
    checked_transfers = models.PositiveIntegerField(default=0)
    checked_provider_entries = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"Reconciliation {self.started_at:%Y-%m-%d %H:%M} ({'ok' if self.ok else 'drift'})"


class ReviewReminder(models.Model):
    """A reminder sent to the client before auto-release; unique per review window
    (a revision restarts the window, so the deadline is part of the key)."""

    milestone = models.ForeignKey(
        "marketplace.Milestone", on_delete=models.CASCADE, related_name="review_reminders"
    )
    days_before = models.PositiveSmallIntegerField()
    deadline = models.DateTimeField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["milestone", "days_before", "deadline"], name="review_reminder_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.days_before}-day reminder for milestone {self.milestone_id}"
