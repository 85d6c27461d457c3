"""Review services: who may review, double-blind publishing, ratings, the 14-day task."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from marketplace.models import ContractActivity, Profile, Review
from marketplace.services.reviews import leave_review, publish_due_reviews, recompute_rating
from marketplace.tasks import publish_due_reviews as publish_task
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotFoundError
from tests.factories import make_completed_contract, make_contract, make_user

pytestmark = pytest.mark.django_db


def test_first_review_stays_blind_and_names_the_other_party_as_subject():
    contract = make_completed_contract()
    review = leave_review(actor=contract.client, contract_id=contract.pk, rating=5, text=" Great ")
    assert review.subject == contract.freelancer
    assert review.text == "Great"
    assert review.published_at is None
    assert not Profile.objects.filter(user=contract.freelancer, rating_count__gt=0).exists()
    assert ContractActivity.objects.filter(contract=contract, verb="review.left").count() == 1


def test_second_review_publishes_both_and_updates_both_ratings(
    django_capture_on_commit_callbacks,
):
    contract = make_completed_contract()
    leave_review(actor=contract.client, contract_id=contract.pk, rating=4)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = leave_review(actor=contract.freelancer, contract_id=contract.pk, rating=2)
    assert second.published_at is not None
    assert Review.objects.filter(contract=contract, published_at__isnull=True).count() == 0
    assert len(callbacks) == 2  # both parties are told the reviews are visible
    freelancer = Profile.objects.get(user=contract.freelancer)
    client = Profile.objects.get(user=contract.client)
    assert (freelancer.rating_average, freelancer.rating_count) == (Decimal("4.00"), 1)
    assert (client.rating_average, client.rating_count) == (Decimal("2.00"), 1)


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_a_rating_outside_one_to_five_is_refused(rating):
    contract = make_completed_contract()
    with pytest.raises(DomainError) as refused:
        leave_review(actor=contract.client, contract_id=contract.pk, rating=rating)
    assert refused.value.code == "invalid_rating"
    assert not Review.objects.exists()


def test_an_active_contract_cannot_be_reviewed():
    contract = make_contract()
    with pytest.raises(InvalidTransition) as refused:
        leave_review(actor=contract.client, contract_id=contract.pk, rating=5)
    assert refused.value.code == "contract_not_completed"
    assert not Review.objects.exists()


def test_reviewing_twice_is_a_conflict_and_keeps_the_first_review():
    contract = make_completed_contract()
    leave_review(actor=contract.client, contract_id=contract.pk, rating=5, text="first")
    with pytest.raises(Conflict) as refused:
        leave_review(actor=contract.client, contract_id=contract.pk, rating=1, text="second")
    assert refused.value.code == "already_reviewed"
    assert list(Review.objects.values_list("rating", "text")) == [(5, "first")]


def test_someone_elses_contract_is_not_found_and_nothing_is_written():
    contract = make_completed_contract()
    with pytest.raises(NotFoundError):
        leave_review(actor=make_user(), contract_id=contract.pk, rating=5)
    assert not Review.objects.exists()
    assert not ContractActivity.objects.exists()


def test_reviews_close_fourteen_days_after_completion():
    contract = make_completed_contract(days_ago=15)
    with pytest.raises(InvalidTransition) as refused:
        leave_review(actor=contract.client, contract_id=contract.pk, rating=5)
    assert refused.value.code == "review_window_closed"
    assert not Review.objects.exists()


def test_a_too_long_review_is_refused():
    contract = make_completed_contract()
    with pytest.raises(DomainError) as refused:
        leave_review(actor=contract.client, contract_id=contract.pk, rating=5, text="x" * 5001)
    assert refused.value.code == "review_too_long"
    assert not Review.objects.exists()


def _blind_review(days_ago: float, rating: int = 3) -> Review:
    contract = make_completed_contract()
    review = leave_review(actor=contract.client, contract_id=contract.pk, rating=rating)
    contract.completed_at = timezone.now() - timedelta(days=days_ago)
    contract.save(update_fields=["completed_at"])
    return review


def test_publish_due_reviews_publishes_only_those_fourteen_days_after_completion():
    due = _blind_review(days_ago=14.01, rating=3)
    not_yet = _blind_review(days_ago=13.9)
    assert publish_due_reviews() == 1
    due.refresh_from_db()
    not_yet.refresh_from_db()
    assert due.published_at is not None
    assert not_yet.published_at is None
    profile = Profile.objects.get(user=due.subject)
    assert (profile.rating_average, profile.rating_count) == (Decimal("3.00"), 1)
    # Nothing left: a second run publishes nothing.
    assert publish_due_reviews() == 0


def test_publish_due_reviews_takes_now_for_a_later_run():
    review = _blind_review(days_ago=1)
    assert publish_due_reviews(now=timezone.now() + timedelta(days=13.5)) == 1
    review.refresh_from_db()
    assert review.published_at is not None


def test_the_task_and_the_command_publish_due_reviews():
    _blind_review(days_ago=20)
    assert publish_task.apply().get() == 1
    _blind_review(days_ago=20)
    _blind_review(days_ago=20)
    out = StringIO()
    call_command("publish_due_reviews", stdout=out)
    assert out.getvalue().strip() == "Published 2 reviews."


def test_rating_is_the_average_of_published_reviews_only():
    freelancer = make_user(is_freelancer=True)
    for rating in (5, 4):
        contract = make_completed_contract(freelancer=freelancer)
        leave_review(actor=contract.client, contract_id=contract.pk, rating=rating)
        leave_review(actor=freelancer, contract_id=contract.pk, rating=5)
    blind = make_completed_contract(freelancer=freelancer)
    leave_review(actor=blind.client, contract_id=blind.pk, rating=1)
    profile = recompute_rating(user_id=freelancer.pk)
    assert (profile.rating_average, profile.rating_count) == (Decimal("4.50"), 2)


def test_recompute_rating_rounds_to_two_places():
    freelancer = make_user(is_freelancer=True)
    for rating in (5, 5, 4):
        contract = make_completed_contract(freelancer=freelancer)
        leave_review(actor=contract.client, contract_id=contract.pk, rating=rating)
        leave_review(actor=freelancer, contract_id=contract.pk, rating=5)
    profile = Profile.objects.get(user=freelancer)
    assert (profile.rating_average, profile.rating_count) == (Decimal("4.67"), 3)


def _race(*calls) -> list[object]:
    """Run the calls at once in threads, each on its own connection; return results/errors."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_both_parties_reviewing_at_once_publish_both():
    contract = make_completed_contract()
    results = _race(
        lambda: leave_review(actor=contract.client, contract_id=contract.pk, rating=5),
        lambda: leave_review(actor=contract.freelancer, contract_id=contract.pk, rating=4),
    )
    assert all(isinstance(result, Review) for result in results), results
    assert Review.objects.filter(contract=contract, published_at__isnull=False).count() == 2
    assert Profile.objects.get(user=contract.freelancer).rating_count == 1
    assert Profile.objects.get(user=contract.client).rating_count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_party_reviewing_twice_at_once_writes_one_review():
    contract = make_completed_contract()
    results = _race(
        *[
            (lambda: leave_review(actor=contract.client, contract_id=contract.pk, rating=5))
            for _ in range(4)
        ]
    )
    assert sum(isinstance(result, Review) for result in results) == 1
    assert sum(isinstance(result, Conflict) for result in results) == 3
    assert Review.objects.filter(contract=contract).count() == 1
