"""The review page of a contract: parties only, completed contracts only, double-blind."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace.models import Review
from marketplace.services.reviews import leave_review
from tests.factories import make_completed_contract, make_contract, make_user

pytestmark = pytest.mark.django_db


def review_url(contract) -> str:
    return reverse("contract_review", kwargs={"contract_id": contract.pk})


def test_review_page_needs_a_login(client):
    contract = make_completed_contract()
    response = client.get(review_url(contract))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_party_sees_an_accessible_form_and_leaves_a_blind_review(client):
    contract = make_completed_contract()
    client.force_login(contract.client)
    page = client.get(review_url(contract))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<legend>Your rating</legend>" in html
    assert '<label for="id_text">' in html
    assert "Completed" in html  # the status in words
    response = client.post(
        review_url(contract), {"rating": "4", "text": "Good brief."}, follow=True
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Your review is shown once the other party reviews" in html
    review = Review.objects.get()
    assert (review.author, review.rating, review.published_at) == (contract.client, 4, None)


def test_the_other_party_does_not_see_a_blind_review_until_they_review(client):
    contract = make_completed_contract()
    leave_review(actor=contract.client, contract_id=contract.pk, rating=2, text="Late delivery.")
    client.force_login(contract.freelancer)
    assert "Late delivery." not in client.get(review_url(contract)).content.decode()
    response = client.post(
        review_url(contract), {"rating": "5", "text": "Kind client."}, follow=True
    )
    html = response.content.decode()
    assert "Both reviews are now published." in html
    assert "Late delivery." in html


@pytest.mark.parametrize("rating", ["0", "6", ""])
def test_a_rating_outside_one_to_five_is_a_form_error(client, rating):
    contract = make_completed_contract()
    client.force_login(contract.client)
    response = client.post(review_url(contract), {"rating": rating, "text": "x"})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not Review.objects.exists()


def test_an_active_contract_shows_no_form_and_refuses_a_post(client):
    contract = make_contract()
    client.force_login(contract.freelancer)
    page = client.get(review_url(contract)).content.decode()
    assert "You can review once the contract is completed." in page
    assert "<legend>Your rating</legend>" not in page
    response = client.post(review_url(contract), {"rating": "5"})
    assert response.status_code == 400
    assert "only after the contract is completed" in response.content.decode()
    assert not Review.objects.exists()


def test_reviewing_twice_from_the_page_changes_nothing(client):
    contract = make_completed_contract()
    leave_review(actor=contract.client, contract_id=contract.pk, rating=5, text="First")
    client.force_login(contract.client)
    page = client.get(review_url(contract)).content.decode()
    assert "<legend>Your rating</legend>" not in page
    assert "First" in page
    response = client.post(review_url(contract), {"rating": "1", "text": "Second"})
    assert response.status_code == 400
    assert "already reviewed" in response.content.decode()
    assert list(Review.objects.values_list("text", flat=True)) == ["First"]


def test_someone_elses_contract_review_page_is_404(client):
    contract = make_completed_contract()
    client.force_login(make_user())
    assert client.get(review_url(contract)).status_code == 404
    assert client.post(review_url(contract), {"rating": "5"}).status_code == 404
    assert not Review.objects.exists()
