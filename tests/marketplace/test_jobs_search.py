"""Job search: full-text with ranking on PostgreSQL, a plain match on SQLite."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from marketplace.models import Job
from marketplace.search import search_jobs
from tests.factories import make_job, verified_user

pytestmark = pytest.mark.django_db


def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(verified_user())
    return client


def ids(response) -> list[int]:
    assert response.status_code == 200, response.data
    return [j["id"] for j in response.data["results"]]


def test_search_finds_words_in_title_or_description_and_skips_others():
    in_title = make_job(title="Django dashboard for payments", description="Charts.")
    in_text = make_job(title="Internal tool", description="A Django admin and a dashboard.")
    other = make_job(title="Logo design", description="Vector artwork for a bakery.")
    found = ids(api().get("/api/v1/jobs/?q=django dashboard"))
    assert set(found) == {in_title.pk, in_text.pk}
    assert other.pk not in found


def test_an_empty_query_lists_everything():
    make_job()
    make_job(title="Logo design")
    assert len(ids(api().get("/api/v1/jobs/?q=%20"))) == 2


def test_search_combines_with_filters():
    hit = make_job(title="Django dashboard", budget=100_000)
    make_job(title="Django dashboard", budget=900_000)
    found = ids(api().get("/api/v1/jobs/?q=django&budget_max=200000&currency=usd"))
    assert found == [hit.pk]


@pytest.mark.postgres
def test_on_postgres_a_title_match_ranks_above_a_description_only_match():
    description_only = make_job(
        title="Internal tool", description="We need a dashboard built on Django for sales."
    )
    title_match = make_job(title="Django dashboard", description="Sales figures.")
    found = ids(api().get("/api/v1/jobs/?q=django dashboard"))
    assert found == [title_match.pk, description_only.pk]
    # Stemming: "dashboards" matches "dashboard"; websearch syntax excludes with "-".
    assert set(ids(api().get("/api/v1/jobs/?q=dashboards"))) == {
        title_match.pk,
        description_only.pk,
    }
    assert ids(api().get("/api/v1/jobs/?q=dashboard -sales")) == []
    assert ids(api().get('/api/v1/jobs/?q="django dashboard"')) == [title_match.pk]


@pytest.mark.postgres
def test_on_postgres_search_uses_the_gin_expression_index():
    make_job()
    queryset = search_jobs(Job.objects.all(), "django dashboard")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    assert "marketplace_job_search_gin" in plan, plan


def test_without_full_text_search_is_a_case_insensitive_match(monkeypatch):
    # The SQLite path; forced here so it runs on PostgreSQL too.
    monkeypatch.setattr("marketplace.search.uses_full_text", lambda: False)
    job = make_job(title="DJANGO Dashboard")
    assert list(search_jobs(Job.objects.all(), "django")) == [job]
    assert list(search_jobs(Job.objects.all(), "django nothing-like-this")) == []
