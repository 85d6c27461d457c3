"""Catalogue and profile API: public search, public profiles, editing your own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from marketplace.models import Category, PortfolioItem, Profile, Skill
from marketplace.services.profiles import AVATAR_MAX_BYTES
from tests.factories import make_freelancer_profile, make_user

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def slug_of(name: str) -> str:
    return Skill.objects.get(name=name).slug


# --- catalogue -------------------------------------------------------------------


def test_categories_and_skills_are_public_and_paginated(api):
    categories = api.get("/api/v1/categories/")
    assert categories.status_code == 200
    assert categories.json()["count"] == Category.objects.count() == 15
    skills = api.get("/api/v1/skills/", {"page_size": 100})
    assert skills.status_code == 200
    body = skills.json()
    assert body["count"] == 150
    assert len(body["results"]) == 100
    assert set(body["results"][0]) == {"id", "name", "slug", "category", "category_name"}


def test_skills_filter_by_category_slug(api):
    category = Skill.objects.get(name="Django").category
    body = api.get("/api/v1/skills/", {"category": category.slug}).json()
    assert body["count"] == 10
    assert {row["category"] for row in body["results"]} == {category.slug}


def test_skills_of_an_unknown_category_is_a_400(api):
    response = api.get("/api/v1/skills/", {"category": "no-such-category"})
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_category"


# --- public search ---------------------------------------------------------------


def test_profile_list_shows_only_freelancers_with_formatted_rates(api):
    profile = make_freelancer_profile(
        headline="Solidity auditor", hourly_rate=12_000, currency="usd", skills=(slug_of("Django"),)
    )
    make_user(is_freelancer=False, first_name="Clara")  # a client: never listed
    bare = make_user(is_freelancer=True)  # a freelancer who never edited a profile
    body = api.get("/api/v1/profiles/").json()
    by_id = {row["user_id"]: row for row in body["results"]}
    assert set(by_id) == {profile.user_id, bare.pk}
    row = by_id[profile.user_id]
    assert row["hourly_rate"] == 12_000
    assert row["hourly_rate_display"] == "$120.00 per hour"
    assert row["skills"] == [{"slug": slug_of("Django"), "name": "Django"}]
    assert row["rating_summary"] == "No reviews yet"
    assert by_id[bare.pk]["hourly_rate"] is None
    assert by_id[bare.pk]["skills"] == []


def test_profile_search_by_text_skills_any_and_rate_range(api):
    django_dev = make_freelancer_profile(
        headline="Django developer", hourly_rate=8_000, skills=(slug_of("Django"),)
    )
    react_dev = make_freelancer_profile(
        headline="Frontend", bio="I write React", hourly_rate=6_000, skills=(slug_of("React"),)
    )
    pricey = make_freelancer_profile(headline="Django architect", hourly_rate=30_000)
    euro = make_freelancer_profile(headline="Django in euros", hourly_rate=7_000, currency="eur")

    def ids(**params: object) -> set[int]:
        response = api.get("/api/v1/profiles/", params)
        assert response.status_code == 200, response.json()
        return {row["user_id"] for row in response.json()["results"]}

    assert ids(q="django") == {django_dev.user_id, pricey.user_id, euro.user_id}
    assert ids(q="react") == {react_dev.user_id}
    # Any of the skills matches.
    assert ids(skills=f"{slug_of('Django')},{slug_of('React')}") == {
        django_dev.user_id,
        react_dev.user_id,
    }
    # A rate range without a currency compares US dollars.
    assert ids(rate_min=5_000, rate_max=10_000) == {django_dev.user_id, react_dev.user_id}
    assert ids(rate_max=10_000, currency="eur") == {euro.user_id}
    assert ids(currency="eur") == {euro.user_id}


def test_profile_ordering_by_rating_and_rate(api):
    cheap = make_freelancer_profile(
        hourly_rate=1_000, rating_average=Decimal("3.5"), rating_count=2
    )
    dear = make_freelancer_profile(hourly_rate=9_000, rating_average=Decimal("4.9"), rating_count=9)
    unrated = make_freelancer_profile(hourly_rate=5_000)

    def order(ordering: str) -> list[int]:
        body = api.get("/api/v1/profiles/", {"ordering": ordering}).json()
        return [row["user_id"] for row in body["results"]]

    assert order("rating") == [dear.user_id, cheap.user_id, unrated.user_id]
    assert order("rate") == [cheap.user_id, unrated.user_id, dear.user_id]
    assert order("-rate") == [dear.user_id, unrated.user_id, cheap.user_id]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"skills": "no-such-skill"}, "unknown_skill"),
        ({"rate_min": 500, "rate_max": 100}, "invalid_rate_range"),
        ({"rate_min": -1}, "invalid_rate_range"),
        ({"rate_min": "lots"}, "invalid"),
        ({"currency": "doge"}, "invalid_currency"),
        ({"ordering": "random"}, "invalid"),
    ],
)
def test_bad_search_parameters_are_a_400(api, params, code):
    response = api.get("/api/v1/profiles/", params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def _make_rich_freelancers(count: int) -> None:
    slugs = list(Skill.objects.order_by("pk").values_list("slug", flat=True)[:3])
    for _ in range(count):
        profile = make_freelancer_profile(hourly_rate=5_000, skills=tuple(slugs))
        PortfolioItem.objects.create(profile=profile, title="Work")


def test_profile_list_runs_a_constant_number_of_queries(api, django_assert_num_queries):
    _make_rich_freelancers(3)
    with django_assert_num_queries(3):  # count, users + profiles, skills
        assert len(api.get("/api/v1/profiles/").json()["results"]) == 3
    _make_rich_freelancers(17)
    with django_assert_num_queries(3):
        assert len(api.get("/api/v1/profiles/").json()["results"]) == 20


# --- one profile -----------------------------------------------------------------


def test_a_freelancers_profile_is_public_with_portfolio(api):
    profile = make_freelancer_profile(headline="Designer", country="FR")
    PortfolioItem.objects.create(profile=profile, title="Logo", link="https://example.com/logo")
    response = api.get(f"/api/v1/profiles/{profile.user_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["headline"] == "Designer"
    assert body["country"] == "FR"
    assert [item["title"] for item in body["portfolio"]] == ["Logo"]


def test_a_non_freelancer_or_unknown_profile_is_404(api):
    client = make_user(is_freelancer=False)
    Profile.objects.create(user=client, headline="Hidden")
    for user_id in (client.pk, 999_999):
        response = api.get(f"/api/v1/profiles/{user_id}/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


# --- your own profile ------------------------------------------------------------


def test_me_needs_a_login(api):
    assert api.get("/api/v1/profiles/me/").status_code == 401
    assert api.patch("/api/v1/profiles/me/", {"headline": "x"}).status_code == 401
    assert not Profile.objects.exists()


def test_patch_me_edits_your_profile_by_skill_slugs(user_api, user):
    response = user_api.patch(
        "/api/v1/profiles/me/",
        {
            "headline": "Django and Solidity",
            "skills": [slug_of("Django"), slug_of("Solidity")],
            "hourly_rate": 8_500,
            "currency": "usd",
            "country": "de",
            "timezone": "Europe/Berlin",
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["user_id"] == user.pk
    assert body["hourly_rate_display"] == "$85.00 per hour"
    assert [s["name"] for s in body["skills"]] == ["Django", "Solidity"]
    assert body["country"] == "DE"
    assert user_api.get("/api/v1/profiles/me/").json()["headline"] == "Django and Solidity"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"hourly_rate": 0}, "invalid_hourly_rate"),
        ({"hourly_rate": -5}, "invalid_hourly_rate"),
        ({"hourly_rate": "ten"}, "invalid"),
        ({"timezone": "Europe/Atlantis"}, "invalid_timezone"),
        ({"country": "DEU"}, "invalid_country"),
        ({"skills": ["no-such-skill"]}, "unknown_skill"),
    ],
)
def test_patch_me_refuses_bad_input_and_writes_nothing(user_api, user, changes, code):
    response = user_api.patch("/api/v1/profiles/me/", {"headline": "Not saved", **changes})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Profile.objects.filter(user=user).exists()


def test_avatar_upload_accepts_a_png_and_refuses_other_files(user_api, user):
    ok = user_api.patch(
        "/api/v1/profiles/me/",
        {"avatar": SimpleUploadedFile("me.png", PNG, content_type="image/png")},
        format="multipart",
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["avatar_url"].startswith("/media/avatars/")
    stored = Profile.objects.get(user=user).avatar.name

    for upload, code in (
        (SimpleUploadedFile("me.svg", b"<svg/>", "image/svg+xml"), "avatar_type_not_allowed"),
        (SimpleUploadedFile("me.png", b"GIF89a...", "image/png"), "avatar_type_not_allowed"),
        (
            SimpleUploadedFile("me.png", PNG + b"\0" * AVATAR_MAX_BYTES, "image/png"),
            "avatar_too_large",
        ),
    ):
        refused = user_api.patch("/api/v1/profiles/me/", {"avatar": upload}, format="multipart")
        assert refused.status_code == 400
        assert refused.json()["code"] == code
        assert Profile.objects.get(user=user).avatar.name == stored


def test_portfolio_add_and_remove(user_api, user):
    created = user_api.post(
        "/api/v1/profiles/me/portfolio/",
        {
            "title": "Case study",
            "link": "https://example.com/case",
            "file": SimpleUploadedFile("case.pdf", b"%PDF-1.7", content_type="application/pdf"),
        },
        format="multipart",
    )
    assert created.status_code == 201, created.json()
    item_id = created.json()["id"]
    assert created.json()["file_url"].startswith("/media/portfolio/")
    assert [i["id"] for i in user_api.get("/api/v1/profiles/me/").json()["portfolio"]] == [item_id]
    assert user_api.delete(f"/api/v1/profiles/me/portfolio/{item_id}/").status_code == 204
    assert not PortfolioItem.objects.exists()


def test_bad_portfolio_item_is_a_400_and_nothing_is_written(user_api):
    response = user_api.post(
        "/api/v1/profiles/me/portfolio/",
        {"title": "Script", "file": SimpleUploadedFile("run.sh", b"#!/bin/sh", "text/x-sh")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "file_type_not_allowed"
    assert not PortfolioItem.objects.exists()


def test_someone_elses_portfolio_item_is_404_and_stays(user_api):
    owner = make_freelancer_profile()
    item = PortfolioItem.objects.create(profile=owner, title="Mine")
    response = user_api.delete(f"/api/v1/profiles/me/portfolio/{item.pk}/")
    assert response.status_code == 404
    assert PortfolioItem.objects.filter(pk=item.pk).exists()


def test_anonymous_cannot_add_portfolio_items():
    response = APIClient().post("/api/v1/profiles/me/portfolio/", {"title": "x"})
    assert response.status_code == 401
    assert not PortfolioItem.objects.exists()
