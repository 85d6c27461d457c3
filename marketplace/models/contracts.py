"""Offers, contracts, milestones, submissions and the contract's activity timeline."""

from django.conf import settings
from django.db import models

from marketplace.money import Rail, amount_field, currency_field


class Contract(models.Model):
    """An offer until the freelancer accepts it; then an active contract."""

    class Status(models.TextChoices):
        OFFERED = "offered", "Offer waiting for the freelancer"
        DECLINED = "declined", "Offer declined"
        WITHDRAWN = "withdrawn", "Offer withdrawn"
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey("marketplace.Job", on_delete=models.PROTECT, related_name="contracts")
    proposal = models.OneToOneField(
        "marketplace.Proposal", on_delete=models.PROTECT, related_name="contract"
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="client_contracts"
    )
    freelancer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="freelancer_contracts"
    )
    title = models.CharField(max_length=200)
    currency = currency_field()
    rail = models.CharField(max_length=8, choices=Rail.choices)
    fee_bps = models.PositiveIntegerField(help_text="Platform fee snapshot, basis points.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFERED)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fee_bps__lte=10_000), name="contract_fee_at_most_100_percent"
            ),
            models.CheckConstraint(
                condition=~models.Q(client=models.F("freelancer")), name="contract_two_parties"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def is_party(self, user: object) -> bool:
        return getattr(user, "pk", None) in (self.client_id, self.freelancer_id)


class Milestone(models.Model):
    """Status moves only through ``marketplace.lifecycle.transition_milestone``."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Not funded yet"
        FUNDED = "funded", "Funded — money in escrow"
        SUBMITTED = "submitted", "Work submitted — waiting for review"
        RELEASED = "released", "Released to the freelancer"
        REFUNDED = "refunded", "Refunded to the client"
        DISPUTED = "disputed", "In dispute — funds locked"
        RESOLVED = "resolved", "Dispute resolved"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    amount = amount_field()
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    submitted_at = models.DateTimeField(null=True, blank=True)
    review_deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["contract_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "position"], name="milestone_position_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="milestone_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"


class MilestoneEvent(models.Model):
    """Every status change of a milestone, with who and why (the audit trail)."""

    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


class Submission(models.Model):
    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="submissions")
    number = models.PositiveSmallIntegerField(
        help_text="1 for the first delivery, 2 after a revision..."
    )
    message = models.TextField()
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Chain rail: the SHA-256 of the submission's manifest, written by the contract's
    # `submit`; the block that anchored it is filled in by chain sync.
    digest = models.CharField(max_length=64, blank=True)
    anchored_block = models.PositiveBigIntegerField(null=True, blank=True)
    anchored_tx = models.CharField(max_length=66, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["milestone_id", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone", "number"], name="submission_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.number} of milestone {self.milestone_id}"


class SubmissionFile(models.Model):
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to="deliverables/%Y/%m/")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(
        max_length=64, help_text="Hex digest; anchored on chain for the chain rail."
    )

    def __str__(self) -> str:
        return self.name


class RevisionRequest(models.Model):
    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="revisions")
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Revision of milestone {self.milestone_id}"


class ContractActivity(models.Model):
    """The workroom timeline: what happened on a contract, in words."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="activity")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=64)
    summary = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "contract activity"

    def __str__(self) -> str:
        return self.summary
