"""Reads over jobs: who may see which job, and the job board's filters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketplace import search
from marketplace.models import Job, JobInvite, Proposal
from marketplace.money import format_amount

ORDERINGS = ("relevance", "newest", "budget", "-budget")


@dataclass(frozen=True)
class JobFilters:
    """The job board's query; the API serializer and the page form both produce one."""

    q: str = ""
    category: str = ""  # slug
    skills: tuple[str, ...] = field(default_factory=tuple)  # slugs, any of them
    budget_min: int | None = None  # minor units
    budget_max: int | None = None
    currency: str = ""
    posted_within: int | None = None  # days
    ordering: str = ""  # one of ORDERINGS; default relevance with q, else newest
    mine: bool = False


def _is_invited(user: Any) -> Exists:
    return Exists(JobInvite.objects.filter(job=OuterRef("pk"), freelancer_id=user.pk))


def visible_jobs(user: Any) -> QuerySet[Job]:
    """Every job ``user`` may look at: their own, and published public jobs or
    published invite-only jobs they were invited to. Drafts stay with their owner."""
    if not user.is_authenticated:
        return Job.objects.exclude(status=Job.Status.DRAFT).filter(visibility=Job.Visibility.PUBLIC)
    published = ~Q(status=Job.Status.DRAFT) & (
        Q(visibility=Job.Visibility.PUBLIC) | Q(_is_invited(user))
    )
    return Job.objects.filter(Q(client_id=user.pk) | published)


def _proposal_count() -> Coalesce:
    counted = (
        Proposal.objects.filter(job=OuterRef("pk"))
        .order_by()
        .values("job")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def with_listing_data(queryset: QuerySet[Job]) -> QuerySet[Job]:
    """What a job card or the API needs, in a fixed number of queries."""
    return (
        queryset.select_related("client", "category")
        .prefetch_related("skills")
        .annotate(proposal_count=_proposal_count())
    )


def job_board(user: Any, filters: JobFilters) -> QuerySet[Job]:
    """Open jobs ``user`` may see, plus (API) their own; filtered and ordered."""
    jobs = visible_jobs(user)
    own = Q(client_id=user.pk) if user.is_authenticated else Q(pk__in=[])
    jobs = jobs.filter(own) if filters.mine else jobs.filter(Q(status=Job.Status.OPEN) | own)
    return _filter_and_order(jobs, filters)


def open_jobs(user: Any, filters: JobFilters) -> QuerySet[Job]:
    """The job board page: open jobs only, whoever posted them."""
    jobs = visible_jobs(user).filter(status=Job.Status.OPEN)
    return _filter_and_order(jobs, filters)


def _filter_and_order(jobs: QuerySet[Job], filters: JobFilters) -> QuerySet[Job]:
    if filters.category:
        jobs = jobs.filter(category__slug=filters.category)
    if filters.skills:
        through = Job.skills.through.objects.filter(
            job_id=OuterRef("pk"), skill__slug__in=filters.skills
        )
        jobs = jobs.filter(Exists(through))
    if filters.currency:
        jobs = jobs.filter(currency=filters.currency)
    if filters.budget_min is not None:
        jobs = jobs.filter(budget__gte=filters.budget_min)
    if filters.budget_max is not None:
        jobs = jobs.filter(budget__lte=filters.budget_max)
    if filters.posted_within:
        since = timezone.now() - timedelta(days=filters.posted_within)
        jobs = jobs.filter(published_at__gte=since)
    if filters.q.strip():
        jobs = search.search_jobs(jobs, filters.q)
    jobs = with_listing_data(jobs)
    ordering = filters.ordering or ("relevance" if filters.q.strip() else "newest")
    if ordering == "relevance" and filters.q.strip():
        return search.order_by_relevance(jobs)
    if ordering == "budget":
        return jobs.order_by("budget", "-pk")
    if ordering == "-budget":
        return jobs.order_by("-budget", "-pk")
    return jobs.order_by(F("published_at").desc(nulls_last=True), "-created_at", "-pk")


def own_jobs(user: Any) -> QuerySet[Job]:
    """A client's jobs, every status, newest first."""
    return with_listing_data(Job.objects.filter(client_id=user.pk)).order_by("-created_at", "-pk")


def get_visible_job(user: Any, job_id: int) -> Job:
    """One job ``user`` may see, or ``Job.DoesNotExist`` (a 404 at every door)."""
    return with_listing_data(visible_jobs(user)).get(pk=job_id)


def is_invited(user: Any, job: Job) -> bool:
    return bool(
        user.is_authenticated and JobInvite.objects.filter(job=job, freelancer=user).exists()
    )


def job_invites(job: Job) -> QuerySet[JobInvite]:
    return JobInvite.objects.filter(job=job).select_related("freelancer").order_by("-created_at")


def with_display(jobs: Iterable[Job]) -> list[Job]:
    """Attach formatted amounts for templates (``job.budget_display``)."""
    shown = list(jobs)
    for job in shown:
        job.budget_display = format_amount(job.budget, job.currency)  # type: ignore[attr-defined]
    return shown
