"""Idempotency-Key: replay returns the first response, a changed body is a 409,
and racing duplicates run the view once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from smartpay.api.idempotency import purge_expired_keys
from smartpay.models import IdempotencyKey
from tests.factories import make_user
from tests.probe_urls import executions

pytestmark = pytest.mark.urls("tests.probe_urls")
URL = "/api/v1/probe/payments/"
BODY = {"amount": 2500, "currency": "usd"}


def pay(client, body=BODY, key="key-1"):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(URL, body, format="json", headers=headers)


@pytest.mark.django_db
def test_same_key_and_body_replays_first_response_without_running_again(user_api):
    first = pay(user_api)
    second = pay(user_api)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"run": 1, "amount": 2500}
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert executions() == 1


@pytest.mark.django_db
def test_same_key_with_other_body_is_409_and_runs_nothing(user_api):
    pay(user_api)
    response = pay(user_api, body={"amount": 9999, "currency": "usd"})
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert executions() == 1


@pytest.mark.django_db
def test_keys_belong_to_their_user(user_api, other_user):
    other = APIClient()
    other.force_authenticate(other_user)
    assert pay(user_api).json()["run"] == 1
    assert pay(other).json()["run"] == 2
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.django_db
def test_without_a_key_every_request_runs(user_api):
    assert [pay(user_api, key=None).json()["run"] for _ in range(3)] == [1, 2, 3]
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key", "tab\tkey"])
def test_malformed_key_is_400_and_runs_nothing(user_api, key):
    response = pay(user_api, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert executions() == 0


@pytest.mark.django_db
def test_client_error_is_stored_and_replayed(user_api):
    bad = {"amount": -5, "currency": "usd"}
    first = pay(user_api, body=bad)
    second = pay(user_api, body=bad)
    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_server_error_releases_the_key_so_a_retry_runs(user_api):
    user_api.raise_request_exception = False
    crashed = pay(user_api, body={**BODY, "crash": True})
    assert crashed.status_code == 500
    assert crashed.json()["code"] == "server_error"
    assert not IdempotencyKey.objects.exists()
    retried = pay(user_api, body={**BODY, "crash": True})
    assert retried.status_code == 500
    assert executions() == 2


@pytest.mark.django_db
def test_request_still_running_elsewhere_is_409_after_waiting(user_api, user, settings):
    settings.IDEMPOTENCY_WAIT_SECONDS = 0.2
    first = pay(user_api)
    IdempotencyKey.objects.filter(user=user).update(state=IdempotencyKey.State.RUNNING)
    response = pay(user_api)
    assert first.status_code == 201
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_request_in_progress"
    assert executions() == 1


@pytest.mark.django_db
def test_stale_running_claim_is_taken_over(user_api, user, settings):
    pay(user_api)
    stale = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS + 5)
    IdempotencyKey.objects.filter(user=user).update(
        state=IdempotencyKey.State.RUNNING, updated_at=stale
    )
    response = pay(user_api)
    assert response.status_code == 201
    assert response.json()["run"] == 2
    assert IdempotencyKey.objects.get(user=user).state == IdempotencyKey.State.DONE


@pytest.mark.django_db
def test_purge_removes_only_expired_keys(user_api, user, settings):
    pay(user_api, key="old")
    pay(user_api, key="new")
    old = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS + 1)
    IdempotencyKey.objects.filter(key="old").update(created_at=old)
    assert purge_expired_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_identical_requests_racing_run_the_view_once():
    user = make_user()
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    responses: list = []
    lock = threading.Lock()

    def worker() -> None:
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        try:
            response = pay(client, body={**BODY, "slow": 0.3}, key="race")
            with lock:
                responses.append(response)
        finally:
            connection.close()  # per-thread connection; lets the test DB be dropped

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert executions() == 1
    assert len(responses) == threads_count
    assert {r.status_code for r in responses} == {201}
    assert {r.json()["run"] for r in responses} == {1}
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == threads_count - 1
    assert IdempotencyKey.objects.filter(user=user, key="race").count() == 1
