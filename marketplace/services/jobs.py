"""Jobs: post, edit, publish, close, cancel, invite freelancers."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Category, Job, JobInvite, Skill, User
from marketplace.money import AMOUNT_DIGITS, CURRENCIES
from marketplace.permissions import UNVERIFIED_DETAIL, has_verified_email
from marketplace.selectors.jobs import visible_jobs
from marketplace.services import audited
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed, NotFoundError

EDITABLE_STATUSES = (Job.Status.DRAFT, Job.Status.OPEN)
MAX_SKILLS = 15
EDITABLE_FIELDS = (
    "title",
    "description",
    "category",
    "skills",
    "budget",
    "currency",
    "deadline",
    "visibility",
)


def ensure_verified(actor: User) -> None:
    if not has_verified_email(actor):
        raise NotAllowed(UNVERIFIED_DETAIL, code="email_unverified")


def _check_fields(fields: dict[str, Any]) -> None:
    """Validate job fields before anything is written."""
    if "title" in fields and not str(fields["title"]).strip():
        raise DomainError("A job needs a title.", code="invalid_title")
    if "description" in fields and not str(fields["description"]).strip():
        raise DomainError("A job needs a description.", code="invalid_description")
    if "budget" in fields:
        budget = fields["budget"]
        if budget is None or int(budget) <= 0 or len(str(int(budget))) > AMOUNT_DIGITS:
            raise DomainError("The budget must be more than zero.", code="invalid_budget")
    if "currency" in fields and fields["currency"] not in CURRENCIES:
        raise DomainError("Unknown currency.", code="invalid_currency")
    if "visibility" in fields and fields["visibility"] not in Job.Visibility.values:
        raise DomainError("Visibility is public or invite_only.", code="invalid_visibility")
    deadline = fields.get("deadline")
    if deadline is not None and deadline < timezone.localdate():
        raise DomainError("The deadline cannot be in the past.", code="deadline_in_past")
    if "category" in fields and not isinstance(fields["category"], Category):
        raise DomainError("Choose a category.", code="invalid_category")
    if "skills" in fields and len(list(fields["skills"])) > MAX_SKILLS:
        raise DomainError(f"Choose at most {MAX_SKILLS} skills.", code="too_many_skills")


def create_job(
    *,
    actor: User,
    title: str,
    description: str,
    category: Category,
    budget: int,
    currency: str,
    skills: Iterable[Skill] = (),
    deadline: datetime.date | None = None,
    visibility: str = Job.Visibility.PUBLIC,
    publish: bool = False,
) -> Job:
    """Post a job as a draft, or open it for proposals at once with ``publish``."""
    skills = list(skills)
    _check_fields(
        {
            "title": title,
            "description": description,
            "category": category,
            "budget": budget,
            "currency": currency,
            "deadline": deadline,
            "visibility": visibility,
            "skills": skills,
        }
    )
    if not actor.is_client:
        raise NotAllowed("Only clients post jobs.", code="not_a_client")
    ensure_verified(actor)
    with transaction.atomic():
        job = Job.objects.create(
            client=actor,
            title=title.strip(),
            description=description.strip(),
            category=category,
            budget=int(budget),
            currency=currency,
            deadline=deadline,
            visibility=visibility,
            status=Job.Status.OPEN if publish else Job.Status.DRAFT,
            published_at=timezone.now() if publish else None,
        )
        job.skills.set(skills)
        audit.record(actor, "job.created", job, after=audit.snapshot(job, audited.JOB))
    return job


def _own_job_for_update(actor: User, job_id: int) -> Job:
    """Lock the job; 404 if ``actor`` cannot see it, 403 if it is not theirs."""
    try:
        job = visible_jobs(actor).select_for_update(of=("self",)).get(pk=job_id)
    except Job.DoesNotExist:
        raise NotFoundError("No such job.") from None
    if job.client_id != actor.pk:
        raise NotAllowed("Only the client who posted the job may do that.", code="not_job_owner")
    return job


def update_job(*, actor: User, job_id: int, **changes: Any) -> Job:
    """Edit a draft or open job. The currency is fixed once proposals arrived."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Cannot change {', '.join(sorted(unknown))}.", code="invalid")
    _check_fields(changes)
    with transaction.atomic():
        job = _own_job_for_update(actor, job_id)
        if job.status not in EDITABLE_STATUSES:
            raise InvalidTransition(
                f"A job that is {job.get_status_display().lower()} can no longer be edited.",
                code="job_not_editable",
            )
        if "currency" in changes and changes["currency"] != job.currency and job.proposals.exists():
            raise Conflict(
                "The currency cannot change once proposals arrived.", code="job_has_proposals"
            )
        skills = changes.pop("skills", None)
        before = audit.snapshot(job, audited.JOB)
        for name, value in changes.items():
            setattr(job, name, value.strip() if isinstance(value, str) else value)
        job.save()
        if skills is not None:
            job.skills.set(skills)
        audit.record(
            actor, "job.updated", job, before=before, after=audit.snapshot(job, audited.JOB)
        )
    return job


def publish_job(*, actor: User, job_id: int) -> Job:
    """Draft -> open: freelancers can see it and propose."""
    ensure_verified(actor)
    with transaction.atomic():
        job = _own_job_for_update(actor, job_id)
        if job.status != Job.Status.DRAFT:
            raise InvalidTransition("Only a draft can be published.", code="job_not_draft")
        if job.deadline is not None and job.deadline < timezone.localdate():
            raise DomainError(
                "The deadline has passed; change it before publishing.", code="deadline_in_past"
            )
        before = audit.snapshot(job, audited.JOB)
        job.status = Job.Status.OPEN
        job.published_at = timezone.now()
        job.save(update_fields=["status", "published_at", "updated_at"])
        audit.record(
            actor, "job.published", job, before=before, after=audit.snapshot(job, audited.JOB)
        )
    return job


def close_job(*, actor: User, job_id: int) -> Job:
    """Open -> closed: no more proposals; existing ones stay readable."""
    with transaction.atomic():
        job = _own_job_for_update(actor, job_id)
        if job.status != Job.Status.OPEN:
            raise InvalidTransition("Only an open job can be closed.", code="job_not_open")
        before = audit.snapshot(job, audited.JOB)
        job.status = Job.Status.CLOSED
        job.save(update_fields=["status", "updated_at"])
        audit.record(
            actor, "job.closed", job, before=before, after=audit.snapshot(job, audited.JOB)
        )
    return job


def cancel_job(*, actor: User, job_id: int) -> Job:
    """Draft or open -> cancelled."""
    with transaction.atomic():
        job = _own_job_for_update(actor, job_id)
        if job.status not in EDITABLE_STATUSES:
            raise InvalidTransition(
                "Only a draft or open job can be cancelled.", code="job_not_cancellable"
            )
        before = audit.snapshot(job, audited.JOB)
        job.status = Job.Status.CANCELLED
        job.save(update_fields=["status", "updated_at"])
        audit.record(
            actor, "job.cancelled", job, before=before, after=audit.snapshot(job, audited.JOB)
        )
    return job


def invite_freelancer(
    *, actor: User, job_id: int, freelancer_id: int, message: str = ""
) -> JobInvite:
    """Invite a freelancer to a draft or open job, once."""
    with transaction.atomic():
        job = _own_job_for_update(actor, job_id)
        if job.status not in EDITABLE_STATUSES:
            raise InvalidTransition("Invitations are for draft or open jobs.", code="job_not_open")
        freelancer = User.objects.filter(
            pk=freelancer_id, is_freelancer=True, is_active=True
        ).first()
        if freelancer is None or freelancer.pk == actor.pk:
            raise DomainError("Only freelancers can be invited.", code="not_a_freelancer")
        if JobInvite.objects.filter(job=job, freelancer=freelancer).exists():
            raise Conflict("That freelancer is already invited.", code="already_invited")
        try:
            with transaction.atomic():
                invite = JobInvite.objects.create(
                    job=job, freelancer=freelancer, message=message.strip()
                )
        except IntegrityError:
            raise Conflict("That freelancer is already invited.", code="already_invited") from None
        audit.record(actor, "job.invited", invite, after=audit.snapshot(invite, audited.INVITE))
        notify(
            freelancer.pk,
            "job_invite",
            f"You are invited to propose on “{job.title}”",
            reverse("job_detail", args=[job.pk]),
        )
    return invite
