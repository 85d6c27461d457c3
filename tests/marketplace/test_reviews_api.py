"""Review API: leaving a review, and who sees it before and after it is published."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from marketplace.models import Profile, Review
from tests.factories import make_completed_contract, make_contract, make_user

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_a_party_reviews_a_completed_contract():
    contract = make_completed_contract()
    response = client_for(contract.client).post(
        "/api/v1/reviews/", {"contract": contract.pk, "rating": 5, "text": "Superb work."}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["subject"] == contract.freelancer_id
    assert body["published"] is False
    assert body["published_at"] is None


def test_double_blind_the_author_alone_sees_a_review_until_both_have_reviewed(api):
    contract = make_completed_contract()
    client_api, freelancer_api = client_for(contract.client), client_for(contract.freelancer)
    first = client_api.post("/api/v1/reviews/", {"contract": contract.pk, "rating": 4}).json()

    assert ids(client_api.get("/api/v1/reviews/")) == [first["id"]]
    assert ids(freelancer_api.get("/api/v1/reviews/")) == []
    assert ids(api.get("/api/v1/reviews/")) == []
    assert ids(api.get("/api/v1/reviews/", {"subject": contract.freelancer_id})) == []
    assert api.get(f"/api/v1/profiles/{contract.freelancer_id}/").json()["rating_count"] == 0

    second = freelancer_api.post("/api/v1/reviews/", {"contract": contract.pk, "rating": 5})
    assert second.status_code == 201
    assert second.json()["published"] is True

    everyone = ids(api.get("/api/v1/reviews/"))
    assert sorted(everyone) == sorted([first["id"], second.json()["id"]])
    assert ids(api.get("/api/v1/reviews/", {"subject": contract.freelancer_id})) == [first["id"]]
    profile = api.get(f"/api/v1/profiles/{contract.freelancer_id}/").json()
    assert (profile["rating_average"], profile["rating_count"]) == (4.0, 1)
    assert profile["rating_summary"] == "4 out of 5 from 1 review"


@pytest.mark.parametrize("rating", [0, 6])
def test_a_rating_outside_one_to_five_is_a_400(rating):
    contract = make_completed_contract()
    response = client_for(contract.client).post(
        "/api/v1/reviews/", {"contract": contract.pk, "rating": rating}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_rating"
    assert not Review.objects.exists()


def test_reviewing_an_active_contract_is_a_409():
    contract = make_contract()
    response = client_for(contract.freelancer).post(
        "/api/v1/reviews/", {"contract": contract.pk, "rating": 5}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "contract_not_completed"
    assert not Review.objects.exists()


def test_reviewing_twice_is_a_409():
    contract = make_completed_contract()
    api = client_for(contract.client)
    assert api.post("/api/v1/reviews/", {"contract": contract.pk, "rating": 5}).status_code == 201
    again = api.post("/api/v1/reviews/", {"contract": contract.pk, "rating": 1})
    assert again.status_code == 409
    assert again.json()["code"] == "already_reviewed"
    assert list(Review.objects.values_list("rating", flat=True)) == [5]


def test_reviewing_someone_elses_contract_is_a_404_and_writes_nothing():
    contract = make_completed_contract()
    response = client_for(make_user()).post(
        "/api/v1/reviews/", {"contract": contract.pk, "rating": 1}
    )
    assert response.status_code == 404
    assert not Review.objects.exists()
    assert not Profile.objects.exists()


def test_posting_a_review_needs_a_login(api):
    contract = make_completed_contract()
    response = api.post("/api/v1/reviews/", {"contract": contract.pk, "rating": 5})
    assert response.status_code == 401
    assert not Review.objects.exists()


def test_missing_fields_are_a_400():
    response = client_for(make_user()).post("/api/v1/reviews/", {"rating": 5})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def _published_reviews(count: int) -> None:
    for _ in range(count):
        contract = make_completed_contract()
        client_for(contract.client).post("/api/v1/reviews/", {"contract": contract.pk, "rating": 4})
        client_for(contract.freelancer).post(
            "/api/v1/reviews/", {"contract": contract.pk, "rating": 5}
        )


def test_review_list_runs_a_constant_number_of_queries(api, django_assert_num_queries):
    _published_reviews(2)
    with django_assert_num_queries(2):  # count, reviews with contract, author, subject
        assert len(ids(api.get("/api/v1/reviews/"))) == 4
    _published_reviews(8)
    with django_assert_num_queries(2):
        assert len(ids(api.get("/api/v1/reviews/"))) == 20
