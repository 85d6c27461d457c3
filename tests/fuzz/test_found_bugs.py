"""Bugs the API fuzzer found, each pinned by the smallest request that showed it."""

from __future__ import annotations

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from tests.probe_urls import executions

pytestmark = pytest.mark.django_db
BEYOND_BIGINT = 2**100


@pytest.mark.urls("tests.probe_urls")
def test_multipart_money_post_from_a_logged_in_page_is_idempotent(user):
    """The session's CSRF check reads a multipart body before the Idempotency-Key
    fingerprint did, which then crashed (500) on the consumed stream."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    csrf = _get_new_csrf_string()
    browser.cookies["csrftoken"] = csrf

    def pay(amount: int):
        return browser.post(
            "/api/v1/probe/payments/",
            {"amount": amount, "currency": "usd"},  # multipart/form-data
            headers={"Idempotency-Key": "form-1", "X-CSRFToken": csrf},
        )

    first, replay, changed = pay(2500), pay(2500), pay(9999)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert changed.status_code == 409
    assert changed.json()["code"] == "idempotency_key_reused"
    assert executions() == 1


def test_an_error_is_json_even_when_csv_was_asked_for(user_api):
    response = user_api.get(
        "/api/v1/ledger/transactions/",
        {"format": "csv", "since": "2026-02-01", "until": "2026-01-01"},
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "invalid"


def test_a_conversation_id_past_the_integer_range_is_not_found(user_api):
    response = user_api.get(f"/api/v1/conversations/{BEYOND_BIGINT}/messages/")
    assert response.status_code == 404
    assert response.json()["code"] == "conversation_not_found"


def test_a_portfolio_item_without_a_link_is_documented_as_a_plain_string(user_api):
    """The response said ``"link": ""`` where the schema promised a URI."""
    response = user_api.post("/api/v1/profiles/me/portfolio/", {"title": "Logo"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["link"] == ""
    schema = user_api.get("/api/v1/schema/", {"format": "json"}).json()
    link = schema["components"]["schemas"]["PortfolioItem"]["properties"]["link"]
    assert link["type"] == "string"
    assert "format" not in link


def test_membership_of_a_conversation_id_past_the_integer_range_is_false(user):
    from notifications import chat

    assert chat.is_member(user, 2**100) is False
