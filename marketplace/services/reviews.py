"""Reviews after a contract completes: double-blind, then published.

Each party of a completed contract may review the other once. A review stays
hidden from everyone but its author until the other party has reviewed too (both
publish at once) or ``REVIEW_BLIND_DAYS`` after completion (``publish_due_reviews``,
run by beat). Publishing recomputes the subject's rating in ``recompute_rating``,
the one place that derives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Contract, ContractActivity, Profile, Review, User
from marketplace.services import audited
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotFoundError

# Reviews stay blind this long after completion; the window to write one is the same.
REVIEW_BLIND_DAYS = 14
MAX_REVIEW_LENGTH = 5000


def recompute_rating(*, user_id: int) -> Profile:
    """Set the user's rating average and count from their published reviews."""
    summary = Review.objects.filter(subject_id=user_id, published_at__isnull=False).aggregate(
        average=Avg("rating"), count=Count("pk")
    )
    Profile.objects.get_or_create(user_id=user_id)
    profile = Profile.objects.select_for_update().get(user_id=user_id)
    average = summary["average"]
    profile.rating_average = (
        None
        if average is None
        else Decimal(str(average)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )
    profile.rating_count = summary["count"]
    profile.save(update_fields=["rating_average", "rating_count", "updated_at"])
    return profile


def _check_rating(rating: int) -> None:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise DomainError("The rating must be a whole number from 1 to 5.", code="invalid_rating")


def _publish(reviews: Iterable[Review], *, now: datetime) -> int:
    """Publish the given reviews that are still blind; returns how many this call published.

    The conditional update claims each review once, so two runs at the same time
    (two beat processes) never publish or count one twice.
    """
    ids = [review.pk for review in reviews]
    published = Review.objects.filter(pk__in=ids, published_at__isnull=True).update(
        published_at=now
    )
    if published:
        subjects = set(
            Review.objects.filter(pk__in=ids).values_list("subject_id", flat=True).distinct()
        )
        for subject_id in sorted(subjects):  # one lock order for every caller
            recompute_rating(user_id=subject_id)
    return published


def leave_review(*, actor: User, contract_id: int, rating: int, text: str = "") -> Review:
    """The actor reviews the other party of a completed contract they belong to.

    Raises NotFoundError for a contract the actor is not a party of,
    InvalidTransition when the contract is not completed or the window has closed,
    Conflict on a second review by the same party.
    """
    _check_rating(rating)
    text = text.strip()
    if len(text) > MAX_REVIEW_LENGTH:
        raise DomainError(
            f"A review may be at most {MAX_REVIEW_LENGTH} characters.", code="review_too_long"
        )
    with transaction.atomic():
        # Locking the contract serialises the two parties' reviews, so the second
        # one always sees the first and publishes both.
        contract = (
            Contract.objects.select_for_update()
            .filter(Q(client=actor) | Q(freelancer=actor), pk=contract_id)
            .first()
        )
        if contract is None:
            raise NotFoundError("No contract with that id is yours.")
        if contract.status != Contract.Status.COMPLETED:
            raise InvalidTransition(
                "You can review only after the contract is completed.",
                code="contract_not_completed",
            )
        now = timezone.now()
        completed_at = contract.completed_at or now
        if now > completed_at + timedelta(days=REVIEW_BLIND_DAYS):
            raise InvalidTransition(
                f"Reviews close {REVIEW_BLIND_DAYS} days after the contract completes.",
                code="review_window_closed",
            )
        subject_id = (
            contract.freelancer_id if actor.pk == contract.client_id else contract.client_id
        )
        if Review.objects.filter(contract=contract, author=actor).exists():
            raise Conflict("You have already reviewed this contract.", code="already_reviewed")
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    contract=contract, author=actor, subject_id=subject_id, rating=rating, text=text
                )
        except IntegrityError:
            raise Conflict(
                "You have already reviewed this contract.", code="already_reviewed"
            ) from None
        ContractActivity.objects.create(
            contract=contract,
            actor=actor,
            verb="review.left",
            summary=f"{actor.display_name} left a review.",
        )
        url = reverse("contract_review", kwargs={"contract_id": contract.pk})
        audit.record(actor, "review.left", review, after=audit.snapshot(review, audited.REVIEW))
        both = list(Review.objects.filter(contract=contract))
        if len(both) == 2:
            _publish(both, now=now)
            ContractActivity.objects.create(
                contract=contract,
                actor=None,
                verb="review.published",
                summary="Both reviews are now published.",
            )
            review.refresh_from_db(fields=["published_at"])
            for party_id in (contract.client_id, contract.freelancer_id):
                notify(party_id, "review", f"Reviews of “{contract.title}” are now visible.", url)
        else:
            notify(
                subject_id,
                "review",
                f"{actor.display_name} reviewed “{contract.title}”; leave yours to see it.",
                url,
            )
    return review


def publish_due_reviews(now: datetime | None = None) -> int:
    """Publish blind reviews of contracts completed at least 14 days ago; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=REVIEW_BLIND_DAYS)
    with transaction.atomic():
        due = list(
            Review.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                published_at__isnull=True,
                contract__status=Contract.Status.COMPLETED,
                contract__completed_at__lte=cutoff,
            )
            .only("pk", "contract_id", "subject_id")
        )
        published = _publish(due, now=now)
        for review in due:
            audit.record(None, "review.published", review, after={"published_at": now})
        for contract_id in sorted({review.contract_id for review in due}):
            ContractActivity.objects.create(
                contract_id=contract_id,
                actor=None,
                verb="review.published",
                summary=f"Reviews published {REVIEW_BLIND_DAYS} days after completion.",
            )
    return published
