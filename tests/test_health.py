"""/healthz and /readyz, against the real database, cache and broker in use."""

import os

import pytest

from smartpay.celery import app as celery_app


def test_healthz_answers_without_touching_dependencies(db, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_each_dependency(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    expected_db = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    assert body["checks"]["database"]["backend"] == expected_db
    expected_cache = "RedisCache" if os.environ.get("REDIS_URL") else "LocMemCache"
    assert body["checks"]["cache"]["backend"] == expected_cache


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db
def test_readyz_in_ci_is_really_connected_to_postgres_and_redis(client):
    checks = client.get("/readyz").json()["checks"]
    assert checks["database"]["backend"] == "postgresql"
    assert checks["cache"]["backend"] == "RedisCache"
    assert "redis" in checks["broker"]["backend"].lower()


@pytest.mark.django_db
def test_readyz_is_503_and_names_the_broker_when_it_is_down(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_health_endpoints_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
