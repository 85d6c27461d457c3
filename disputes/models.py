"""Disputes' data: the case, its timeline, evidence and settlement offers.

Constraints live here; behaviour lives in ``disputes.services``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from marketplace.models import Milestone
from marketplace.money import amount_field

BPS = 10_000
SHARE_IN_RANGE = models.Q(freelancer_share_bps__gte=0) & models.Q(freelancer_share_bps__lte=BPS)


class Dispute(models.Model):
    """A disagreement about one milestone; at most one open case per milestone."""

    class Reason(models.TextChoices):
        NOT_DELIVERED = "not_delivered", "Work not delivered"
        QUALITY = "quality", "Work does not meet the agreed quality"
        SCOPE = "scope", "Disagreement about the scope"
        UNRESPONSIVE = "unresponsive", "The other party stopped responding"
        PAYMENT = "payment", "Disagreement about payment"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open — waiting for a response"
        RESPONDED = "responded", "Responded"
        ESCALATED = "escalated", "With an arbiter"
        CONFIRMING = "confirming", "Decided — waiting for a second arbiter"
        DECIDED = "decided", "Decided — open to appeal"
        RESOLVING = "resolving", "Decided — waiting for the escrow contract"
        RESOLVED = "resolved", "Resolved by an arbiter"
        SETTLED = "settled", "Settled by agreement"
        WITHDRAWN = "withdrawn", "Withdrawn"

    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="disputes")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes_opened"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    description = models.TextField()
    amount_in_dispute = amount_field()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    response_due_at = models.DateTimeField()
    freelancer_share_bps = models.PositiveIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes_resolved",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When the respondent was reminded that the response window is closing (once).
    reminded_at = models.DateTimeField(null=True, blank=True)
    # Arbitration: who has the case and until when.
    arbiter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes_assigned",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    decision_due_at = models.DateTimeField(null=True, blank=True)
    # The arbiter whose decision stands or awaits confirmation, and when they decided.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The second arbiter who confirmed a decision above DISPUTE_SECOND_ARBITER_ABOVE.
    second_arbiter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes_confirmed",
    )
    # A first-round decision executes at appeal_due_at unless a party appeals (once).
    appeal_due_at = models.DateTimeField(null=True, blank=True)
    appealed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="disputes_appealed",
    )
    appealed_at = models.DateTimeField(null=True, blank=True)
    appeal_reason = models.TextField(blank=True)
    is_appeal = models.BooleanField(default=False, help_text="The case is in its appeal round.")
    # The milestone's status before the dispute, restored when the opener withdraws.
    milestone_status_before = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Parties and arbiters still work on the case: evidence, offers, a decision.
    ACTIVE = (Status.OPEN, Status.RESPONDED, Status.ESCALATED)
    # Decided, not yet executed: waiting for a second arbiter or the appeal window.
    PENDING_DECISION = (Status.CONFIRMING, Status.DECIDED)
    # Not over yet: the milestone may carry no other dispute.
    UNFINISHED = (*ACTIVE, *PENDING_DECISION, Status.RESOLVING)
    # An arbiter's workload: cases waiting on them.
    ARBITRATING = (Status.ESCALATED, Status.CONFIRMING)
    # No more evidence, offers or decisions once a case is here.
    CLOSED = (Status.RESOLVING, Status.RESOLVED, Status.SETTLED, Status.WITHDRAWN)
    # The milestone's money has its final owner (or the case was dropped).
    FINAL = (Status.RESOLVED, Status.SETTLED, Status.WITHDRAWN)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone"],
                condition=~models.Q(status__in=["resolved", "settled", "withdrawn"]),
                name="dispute_one_open_per_milestone",
            ),
            models.CheckConstraint(
                condition=models.Q(freelancer_share_bps__isnull=True) | SHARE_IN_RANGE,
                name="dispute_share_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_in_dispute__gt=0), name="dispute_amount_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["confirming", "decided"])
                | (
                    models.Q(decided_by__isnull=False)
                    & models.Q(freelancer_share_bps__isnull=False)
                ),
                name="dispute_decision_has_arbiter_and_share",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="decided") | models.Q(appeal_due_at__isnull=False),
                name="dispute_decided_has_appeal_deadline",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "appeal_due_at"], name="dispute_status_appeal_due"),
            models.Index(fields=["arbiter", "status"], name="dispute_arbiter_status"),
        ]

    def __str__(self) -> str:
        return f"Dispute {self.pk} on milestone {self.milestone_id} ({self.get_status_display()})"


class DisputeEvent(models.Model):
    """One line of a case's timeline; never edited or deleted."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        RESPONDED = "responded", "Responded"
        REMINDED = "reminded", "Response reminder sent"
        EVIDENCE = "evidence", "Evidence added"
        OFFER = "offer", "Settlement offered"
        OFFER_ACCEPTED = "offer_accepted", "Settlement accepted"
        ESCALATED = "escalated", "Escalated to arbitration"
        RESOLUTION_SENT = "resolution_sent", "Decision sent to the escrow contract"
        RESOLVED = "resolved", "Resolved"
        SETTLED = "settled", "Settled"
        ASSIGNED = "assigned", "Arbiter assigned"
        DECIDED = "decided", "Arbiter decided"
        CONFIRMED = "confirmed", "Decision confirmed by a second arbiter"
        CONFIRMATION_REFUSED = "confirmation_refused", "Second arbiter disagreed"
        APPEALED = "appealed", "Decision appealed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A dispute's timeline is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("A dispute's timeline is append-only.")


class Evidence(models.Model):
    """A statement or a file a party adds to the case; files carry their SHA-256."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="evidence")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField(blank=True)
    file = models.FileField(upload_to="evidence/%Y/%m/", blank=True)
    name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hex digest of the file.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return self.name or self.text[:60]


class SettlementOffer(models.Model):
    """A party's proposed split; the other party accepts it or counters."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        COUNTERED = "countered", "Countered"
        WITHDRAWN = "withdrawn", "Withdrawn"

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="offers")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    freelancer_share_bps = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=SHARE_IN_RANGE, name="offer_share_in_range"),
            models.UniqueConstraint(
                fields=["dispute", "proposed_by"],
                condition=models.Q(status="open"),
                name="offer_one_open_per_party",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.freelancer_share_bps / 100:g} % to the freelancer ({self.status})"
