"""Jobs API: post, edit, publish, close, cancel, invite; visibility and filters."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Category, Job, JobInvite, Skill
from tests.factories import (
    any_category,
    make_job,
    make_proposal,
    make_user,
    verified_freelancer,
    verified_user,
)

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def job_body(**overrides):
    body = {
        "title": "Build a Django escrow dashboard",
        "description": "Charts of milestone payments, with tests.",
        "category": any_category().slug,
        "skills": list(Skill.objects.order_by("pk").values_list("slug", flat=True)[:2]),
        "budget": 250_000,
        "currency": "usd",
        "visibility": "public",
    }
    body.update(overrides)
    return body


# --- posting --------------------------------------------------------------


def test_a_verified_client_posts_a_draft_then_publishes_it():
    client = verified_user()
    api = api_for(client)
    response = api.post("/api/v1/jobs/", job_body(), format="json")
    assert response.status_code == 201, response.data
    data = response.data
    assert data["status"] == "draft"
    assert data["status_display"] == "Draft"
    assert data["budget"] == 250_000
    assert data["budget_display"] == "$2,500.00"
    assert len(data["skills"]) == 2
    assert data["published_at"] is None

    published = api.post(f"/api/v1/jobs/{data['id']}/publish/")
    assert published.status_code == 200
    assert published.data["status"] == "open"
    assert published.data["published_at"] is not None


def test_posting_with_publish_opens_the_job_at_once():
    response = api_for(verified_user()).post("/api/v1/jobs/", job_body(publish=True), format="json")
    assert response.status_code == 201
    assert response.data["status"] == "open"


@pytest.mark.parametrize("budget", [0, -100])
def test_a_budget_of_zero_or_less_is_refused(budget):
    response = api_for(verified_user()).post(
        "/api/v1/jobs/", job_body(budget=budget), format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == "invalid_budget"
    assert not Job.objects.exists()


def test_a_deadline_in_the_past_is_refused():
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    response = api_for(verified_user()).post(
        "/api/v1/jobs/", job_body(deadline=yesterday), format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == "deadline_in_past"
    assert not Job.objects.exists()


def test_unknown_category_or_currency_is_a_field_error():
    api = api_for(verified_user())
    for body in (job_body(category="no-such"), job_body(currency="xyz")):
        response = api.post("/api/v1/jobs/", body, format="json")
        assert response.status_code == 400
        assert response.data["code"] == "invalid"
    assert not Job.objects.exists()


def test_posting_needs_a_verified_email():
    response = api_for(make_user()).post("/api/v1/jobs/", job_body(), format="json")
    assert response.status_code == 403
    assert response.data["code"] == "email_unverified"
    assert not Job.objects.exists()


def test_posting_needs_a_login():
    response = APIClient().post("/api/v1/jobs/", job_body(), format="json")
    assert response.status_code == 401
    assert not Job.objects.exists()


# --- editing and state ----------------------------------------------------


def test_the_owner_edits_an_open_job():
    owner = verified_user()
    job = make_job(owner)
    response = api_for(owner).patch(
        f"/api/v1/jobs/{job.pk}/", {"budget": 300_000, "title": "New title"}, format="json"
    )
    assert response.status_code == 200, response.data
    job.refresh_from_db()
    assert (job.budget, job.title) == (300_000, "New title")


def test_editing_someone_elses_public_job_is_forbidden_and_changes_nothing():
    job = make_job()
    response = api_for(verified_user()).patch(
        f"/api/v1/jobs/{job.pk}/", {"budget": 1}, format="json"
    )
    assert response.status_code == 403
    assert response.data["code"] == "not_job_owner"
    job.refresh_from_db()
    assert job.budget == 250_000


def test_editing_with_a_bad_budget_changes_nothing():
    owner = verified_user()
    job = make_job(owner)
    response = api_for(owner).patch(
        f"/api/v1/jobs/{job.pk}/", {"budget": 0, "title": "Changed"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == "invalid_budget"
    job.refresh_from_db()
    assert job.title == "Build a Django escrow dashboard"


@pytest.mark.parametrize("status", [Job.Status.AWARDED, Job.Status.CLOSED, Job.Status.CANCELLED])
def test_a_decided_job_cannot_be_edited(status):
    owner = verified_user()
    job = make_job(owner, status=status)
    response = api_for(owner).patch(f"/api/v1/jobs/{job.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 409
    assert response.data["code"] == "job_not_editable"
    job.refresh_from_db()
    assert job.title != "x"


def test_the_currency_is_fixed_once_proposals_arrived():
    owner = verified_user()
    job = make_job(owner)
    make_proposal(job)
    response = api_for(owner).patch(f"/api/v1/jobs/{job.pk}/", {"currency": "eur"}, format="json")
    assert response.status_code == 409
    assert response.data["code"] == "job_has_proposals"
    job.refresh_from_db()
    assert job.currency == "usd"


def test_close_and_cancel_follow_the_status_rules():
    owner = verified_user()
    api = api_for(owner)
    job = make_job(owner)
    assert api.post(f"/api/v1/jobs/{job.pk}/close/").data["status"] == "closed"
    again = api.post(f"/api/v1/jobs/{job.pk}/close/")
    assert (again.status_code, again.data["code"]) == (409, "job_not_open")
    cancel = api.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert (cancel.status_code, cancel.data["code"]) == (409, "job_not_cancellable")
    other = make_job(owner, status=Job.Status.DRAFT, published_at=None)
    assert api.post(f"/api/v1/jobs/{other.pk}/cancel/").data["status"] == "cancelled"
    publish = api.post(f"/api/v1/jobs/{job.pk}/publish/")
    assert (publish.status_code, publish.data["code"]) == (409, "job_not_draft")


def test_someone_else_cannot_close_a_job():
    job = make_job()
    response = api_for(verified_user()).post(f"/api/v1/jobs/{job.pk}/close/")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN


# --- visibility -----------------------------------------------------------


def test_a_draft_is_visible_to_its_owner_only():
    owner = verified_user()
    draft = make_job(owner, status=Job.Status.DRAFT, published_at=None)
    assert api_for(owner).get(f"/api/v1/jobs/{draft.pk}/").status_code == 200
    stranger = api_for(verified_freelancer())
    assert stranger.get(f"/api/v1/jobs/{draft.pk}/").status_code == 404
    assert stranger.post(f"/api/v1/jobs/{draft.pk}/publish/").status_code == 404
    assert stranger.patch(f"/api/v1/jobs/{draft.pk}/", {"title": "x"}).status_code == 404
    assert draft.pk not in [j["id"] for j in stranger.get("/api/v1/jobs/").data["results"]]
    draft.refresh_from_db()
    assert draft.status == Job.Status.DRAFT


def test_an_invite_only_job_is_visible_to_invited_freelancers_only():
    owner = verified_user()
    job = make_job(owner, visibility=Job.Visibility.INVITE_ONLY)
    invited, outsider = verified_freelancer(), verified_freelancer()
    assert api_for(invited).get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    response = api_for(owner).post(
        f"/api/v1/jobs/{job.pk}/invites/", {"freelancer": invited.pk, "message": "Hi"}
    )
    assert response.status_code == 201, response.data
    assert api_for(invited).get(f"/api/v1/jobs/{job.pk}/").status_code == 200
    assert api_for(outsider).get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    listed = [j["id"] for j in api_for(invited).get("/api/v1/jobs/").data["results"]]
    assert job.pk in listed
    listed = [j["id"] for j in api_for(outsider).get("/api/v1/jobs/").data["results"]]
    assert job.pk not in listed


def test_the_list_shows_open_public_jobs_and_your_own():
    me = verified_user()
    mine_draft = make_job(me, status=Job.Status.DRAFT, published_at=None)
    public = make_job()
    closed = make_job(status=Job.Status.CLOSED)
    ids = [j["id"] for j in api_for(me).get("/api/v1/jobs/").data["results"]]
    assert set(ids) == {mine_draft.pk, public.pk}
    assert closed.pk not in ids
    mine = api_for(me).get("/api/v1/jobs/?mine=true").data["results"]
    assert [j["id"] for j in mine] == [mine_draft.pk]


# --- invitations ----------------------------------------------------------


def test_inviting_twice_or_a_non_freelancer_is_refused():
    owner = verified_user()
    job = make_job(owner)
    freelancer = verified_freelancer()
    api = api_for(owner)
    assert (
        api.post(f"/api/v1/jobs/{job.pk}/invites/", {"freelancer": freelancer.pk}).status_code
        == 201
    )
    twice = api.post(f"/api/v1/jobs/{job.pk}/invites/", {"freelancer": freelancer.pk})
    assert (twice.status_code, twice.data["code"]) == (409, "already_invited")
    client_only = make_user(is_freelancer=False)
    for target in (client_only.pk, owner.pk, 999_999):
        response = api.post(f"/api/v1/jobs/{job.pk}/invites/", {"freelancer": target})
        assert (response.status_code, response.data["code"]) == (400, "not_a_freelancer")
    assert JobInvite.objects.count() == 1


def test_only_the_owner_invites():
    job = make_job()
    response = api_for(verified_user()).post(
        f"/api/v1/jobs/{job.pk}/invites/", {"freelancer": verified_freelancer().pk}
    )
    assert response.status_code == 403
    assert not JobInvite.objects.exists()


# --- filters --------------------------------------------------------------


def test_filters_by_category_skills_budget_currency_and_age():
    categories = list(Category.objects.order_by("pk")[:2])
    skills = list(Skill.objects.order_by("pk")[:2])
    cheap = make_job(category=categories[0], budget=10_000, title="Cheap")
    dear = make_job(category=categories[1], budget=900_000, title="Dear")
    euro = make_job(category=categories[0], budget=50_000, currency="eur", title="Euro")
    old = make_job(
        category=categories[0],
        budget=20_000,
        title="Old",
        published_at=timezone.now() - datetime.timedelta(days=40),
    )
    cheap.skills.add(skills[0])
    dear.skills.add(skills[1])
    api = api_for(verified_user())

    def ids(query: str) -> set[int]:
        response = api.get(f"/api/v1/jobs/?{query}")
        assert response.status_code == 200, response.data
        return {j["id"] for j in response.data["results"]}

    assert ids(f"category={categories[1].slug}") == {dear.pk}
    assert ids(f"skills={skills[0].slug},{skills[1].slug}") == {cheap.pk, dear.pk}
    assert ids(f"skills={skills[1].slug}") == {dear.pk}
    assert ids("budget_min=20000&budget_max=100000") == {euro.pk, old.pk}
    assert ids("currency=eur") == {euro.pk}
    assert ids("posted_within=30") == {cheap.pk, dear.pk, euro.pk}
    budgets = [j["budget"] for j in api.get("/api/v1/jobs/?ordering=budget").data["results"]]
    assert budgets == sorted(budgets)
    budgets = [j["budget"] for j in api.get("/api/v1/jobs/?ordering=-budget").data["results"]]
    assert budgets == sorted(budgets, reverse=True)
    newest = [j["id"] for j in api.get("/api/v1/jobs/?ordering=newest").data["results"]]
    assert newest[-1] == old.pk


@pytest.mark.parametrize(
    "query",
    [
        "budget_min=abc",
        "budget_min=-1",
        "budget_min=10&budget_max=5",
        "posted_within=0",
        "ordering=price",
        "currency=xyz",
    ],
)
def test_bad_filters_are_a_400(query):
    response = api_for(verified_user()).get(f"/api/v1/jobs/?{query}")
    assert response.status_code == 400
    assert response.data["code"] == "invalid"


def test_the_list_runs_a_constant_number_of_queries():
    api = api_for(verified_user())
    skills = list(Skill.objects.order_by("pk")[:3])

    def count_for(n: int) -> int:
        Job.objects.all().delete()
        for _ in range(n):
            make_job().skills.set(skills)
        api.get("/api/v1/jobs/")  # warm caches (content types, sessions)
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/v1/jobs/?page_size=50")
        assert response.status_code == 200
        assert len(response.data["results"]) == n
        return len(queries)

    assert count_for(3) == count_for(20)
