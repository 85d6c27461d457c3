"""Jobs, invitations and proposals with their milestone plans."""

from django.conf import settings
from django.db import models

from marketplace.money import amount_field, currency_field


class Job(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open for proposals"
        AWARDED = "awarded", "Awarded"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        INVITE_ONLY = "invite_only", "Invite only"

    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    title = models.CharField(max_length=200)
    description = models.TextField()
    category = models.ForeignKey(
        "marketplace.Category", on_delete=models.PROTECT, related_name="jobs"
    )
    skills = models.ManyToManyField("marketplace.Skill", blank=True, related_name="jobs")
    budget = amount_field(help_text="Fixed budget in minor units.")
    currency = currency_field()
    deadline = models.DateField(null=True, blank=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-published_at", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(budget__gt=0), name="job_budget_positive"),
        ]
        indexes = [models.Index(fields=["status", "visibility", "-published_at"])]

    def __str__(self) -> str:
        return self.title


class JobInvite(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="invites")
    freelancer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_invites"
    )
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "freelancer"], name="job_invite_once"),
        ]

    def __str__(self) -> str:
        return f"Invite to job {self.job_id}"


class Proposal(models.Model):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        SHORTLISTED = "shortlisted", "Shortlisted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        ACCEPTED = "accepted", "Accepted (offer sent)"

    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="proposals")
    freelancer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals"
    )
    cover_letter = models.TextField()
    currency = currency_field()
    total = amount_field(help_text="Sum of the milestone plan, minor units.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "freelancer"], name="proposal_once_per_job"),
            models.CheckConstraint(condition=models.Q(total__gt=0), name="proposal_total_positive"),
        ]

    def __str__(self) -> str:
        return f"Proposal by {self.freelancer} on {self.job}"


class ProposalMilestone(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    amount = amount_field()
    due_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "position"], name="proposal_milestone_position_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="proposal_milestone_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.title
