"""Job pages: board (search, filters, htmx partial), detail, post, edit, my jobs, invite."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

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


def test_the_board_lists_open_public_jobs_in_words(client):
    job = make_job(title="Django dashboard")
    draft = make_job(title="Secret draft", status=Job.Status.DRAFT, published_at=None)
    hidden = make_job(title="Invite only thing", visibility=Job.Visibility.INVITE_ONLY)
    response = client.get(reverse("job_board"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Django dashboard" in html
    assert "$2,500.00" in html
    assert draft.title not in html
    assert hidden.title not in html
    assert 'aria-live="polite"' in html
    assert "1 job found" in html
    assert f'href="{reverse("job_detail", args=[job.pk])}"' in html
    assert 'hx-get="/jobs/"' in html
    assert 'hx-push-url="true"' in html
    assert "<script>" not in html
    assert 'style="' not in html


def test_the_board_searches_and_filters(client):
    category = Category.objects.order_by("pk")[1]
    make_job(title="Django dashboard", budget=100_000)
    make_job(title="Django shop", budget=900_000, category=category)
    make_job(title="Logo design")
    html = client.get(reverse("job_board"), {"q": "django"}).content.decode()
    assert "2 jobs found for “django”" in html
    assert "Logo design" not in html
    html = client.get(
        reverse("job_board"), {"q": "django", "currency": "usd", "budget_max": "2000.00"}
    ).content.decode()
    assert "Django dashboard" in html
    assert "Django shop" not in html
    html = client.get(reverse("job_board"), {"category": category.slug}).content.decode()
    assert "Django shop" in html
    assert "Django dashboard" not in html
    html = client.get(reverse("job_board"), {"ordering": "-budget"}).content.decode()
    assert html.index("Django shop") < html.index("Django dashboard")


def test_a_budget_filter_without_currency_is_a_form_error(client):
    make_job()
    response = client.get(reverse("job_board"), {"budget_min": "10"})
    assert response.status_code == 200
    assert "Choose a currency to filter by budget." in response.content.decode()


def test_htmx_gets_only_the_results_and_the_live_count(client):
    make_job(title="Django dashboard")
    response = client.get(reverse("job_board"), {"q": "django"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="job-count"' in html
    assert 'hx-swap-oob="true"' in html
    assert "Django dashboard" in html
    restore = client.get(
        reverse("job_board"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restore.content.decode()


def test_the_board_paginates(client):
    for n in range(25):
        make_job(title=f"Job number {n}")
    html = client.get(reverse("job_board"), {"q": "job"}).content.decode()
    assert "Page 1 of 2" in html
    assert "q=job&amp;page=2" in html
    html = client.get(reverse("job_board"), {"q": "job", "page": 2}).content.decode()
    assert html.count('class="job-card card"') == 5


def test_the_board_runs_a_constant_number_of_queries(client):
    client.force_login(verified_user())
    skills = list(Skill.objects.order_by("pk")[:3])

    def count_for(n: int) -> int:
        Job.objects.all().delete()
        for _ in range(n):
            make_job().skills.set(skills)
        client.get(reverse("job_board"))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("job_board"))
        assert response.content.decode().count('class="job-card card"') == n
        return len(queries)

    assert count_for(3) == count_for(20)


def test_detail_shows_owner_controls_to_the_owner_and_a_proposal_form_to_freelancers(client):
    owner = verified_user()
    job = make_job(owner)
    make_proposal(job)
    client.force_login(owner)
    html = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    for word in ("Edit", "Invite", "Proposals (1)", "Close to new proposals", "Open for proposals"):
        assert word in html
    assert "Submit a proposal" not in html
    client.force_login(verified_freelancer())
    html = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Submit a proposal" in html
    assert reverse("proposal_create", args=[job.pk]) in html
    assert "Close to new proposals" not in html


def test_drafts_and_invite_only_jobs_are_404_pages_for_others(client):
    draft = make_job(status=Job.Status.DRAFT, published_at=None)
    hidden = make_job(visibility=Job.Visibility.INVITE_ONLY)
    client.force_login(verified_freelancer())
    for job in (draft, hidden):
        assert client.get(reverse("job_detail", args=[job.pk])).status_code == 404
        assert client.get(reverse("proposal_create", args=[job.pk])).status_code == 404
    assert client.get(reverse("job_edit", args=[draft.pk])).status_code == 404
    public = make_job()
    assert client.get(reverse("job_edit", args=[public.pk])).status_code == 404
    assert client.post(reverse("job_close", args=[public.pk])).status_code == 404
    public.refresh_from_db()
    assert public.status == Job.Status.OPEN


def job_form(**overrides):
    data = {
        "title": "Build a shop",
        "description": "Products, cart, checkout.",
        "category": any_category().pk,
        "skills": [s.pk for s in Skill.objects.order_by("pk")[:2]],
        "budget": "2500.00",
        "currency": "usd",
        "deadline": "",
        "visibility": "public",
    }
    data.update(overrides)
    return data


def test_posting_a_job_converts_major_units_and_publishes(client):
    client.force_login(verified_user())
    response = client.post(reverse("job_create"), {**job_form(), "publish": "1"})
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.budget == 250_000
    assert job.status == Job.Status.OPEN
    assert job.skills.count() == 2


def test_saving_a_draft(client):
    client.force_login(verified_user())
    client.post(reverse("job_create"), {**job_form(), "draft": "1"})
    assert Job.objects.get().status == Job.Status.DRAFT


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ("0", "The budget must be more than zero."),
        ("-5", "The budget must be more than zero."),
        ("10.001", "USD has at most 2 decimal places."),
    ],
)
def test_bad_budgets_are_form_errors(client, budget, message):
    client.force_login(verified_user())
    response = client.post(reverse("job_create"), {**job_form(budget=budget), "publish": "1"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Job.objects.exists()


def test_posting_needs_a_verified_email(client):
    client.force_login(make_user())
    response = client.post(reverse("job_create"), {**job_form(), "publish": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email")
    assert not Job.objects.exists()


def test_editing_a_job_prefills_and_saves(client):
    owner = verified_user()
    job = make_job(owner)
    client.force_login(owner)
    html = client.get(reverse("job_edit", args=[job.pk])).content.decode()
    assert 'value="2500.00"' in html
    response = client.post(reverse("job_edit", args=[job.pk]), job_form(budget="3000"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.budget == 300_000


def test_publish_close_cancel_buttons(client):
    owner = verified_user()
    job = make_job(owner, status=Job.Status.DRAFT, published_at=None)
    client.force_login(owner)
    client.post(reverse("job_publish", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    client.post(reverse("job_close", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == Job.Status.CLOSED
    response = client.post(reverse("job_cancel", args=[job.pk]), follow=True)
    assert "Only a draft or open job can be cancelled." in response.content.decode()


def test_my_jobs_lists_every_status(client):
    owner = verified_user()
    make_job(owner, title="Open one")
    make_job(owner, title="Draft one", status=Job.Status.DRAFT, published_at=None)
    make_job(title="Not mine")
    client.force_login(owner)
    html = client.get(reverse("job_mine")).content.decode()
    assert "Open one" in html
    assert "Draft one" in html
    assert "Not mine" not in html
    assert "Draft</td>" in html


def test_inviting_by_email(client):
    owner = verified_user()
    job = make_job(owner, visibility=Job.Visibility.INVITE_ONLY)
    freelancer = verified_freelancer()
    client.force_login(owner)
    response = client.post(
        reverse("job_invite", args=[job.pk]), {"email": freelancer.email, "message": "Hi"}
    )
    assert response.status_code == 302
    assert JobInvite.objects.filter(job=job, freelancer=freelancer).exists()
    again = client.post(reverse("job_invite", args=[job.pk]), {"email": freelancer.email})
    assert "That freelancer is already invited." in again.content.decode()
    nobody = client.post(reverse("job_invite", args=[job.pk]), {"email": "nobody@example.test"})
    assert "No freelancer has that e-mail address." in nobody.content.decode()
    assert JobInvite.objects.count() == 1
