"""Review reads. A blind review is visible to its author only, until it is published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from marketplace.models import Contract, Review, User
from marketplace.services.reviews import REVIEW_BLIND_DAYS


def visible_reviews(viewer: User | None, *, subject_id: int | None = None) -> QuerySet[Review]:
    """Published reviews, plus the viewer's own unpublished ones, newest first."""
    visible = Q(published_at__isnull=False)
    if viewer is not None and viewer.is_authenticated:
        visible |= Q(author=viewer)
    queryset = Review.objects.filter(visible).select_related("author", "subject", "contract")
    if subject_id is not None:
        queryset = queryset.filter(subject_id=subject_id)
    return queryset.order_by("-published_at", "-created_at", "-pk")


def published_reviews_of(subject: User) -> QuerySet[Review]:
    return (
        Review.objects.filter(subject=subject, published_at__isnull=False)
        .select_related("author", "contract")
        .order_by("-published_at", "-pk")
    )


def contracts_of(user: User) -> QuerySet[Contract]:
    """Contracts the user is a party of; anyone else's are not found."""
    return Contract.objects.filter(Q(client=user) | Q(freelancer=user)).select_related(
        "client", "freelancer"
    )


@dataclass(frozen=True)
class ReviewState:
    """What one party of a contract sees of its reviews."""

    mine: Review | None
    theirs: Review | None  # only once published
    other_party: User
    can_review: bool
    window_days: int = REVIEW_BLIND_DAYS


def review_window_open(contract: Contract) -> bool:
    if contract.status != Contract.Status.COMPLETED:
        return False
    completed_at = contract.completed_at or timezone.now()
    return timezone.now() <= completed_at + timedelta(days=REVIEW_BLIND_DAYS)


def review_state(contract: Contract, viewer: User) -> ReviewState:
    reviews = {review.author_id: review for review in contract.reviews.select_related("author")}
    other = contract.freelancer if viewer.pk == contract.client_id else contract.client
    theirs = reviews.get(other.pk)
    mine = reviews.get(viewer.pk)
    return ReviewState(
        mine=mine,
        theirs=theirs if theirs is not None and theirs.published_at else None,
        other_party=other,
        can_review=mine is None and review_window_open(contract),
    )
