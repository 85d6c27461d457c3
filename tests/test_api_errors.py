"""Every API error is {"code", "detail"} with the right 4xx; bad input is never a 500."""

import pytest
from rest_framework.throttling import SimpleRateThrottle

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.probe_urls")]


def test_malformed_json_is_a_400_parse_error(user_api):
    response = user_api.post(
        "/api/v1/probe/payments/", data=b"{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "JSON" in response.json()["detail"]


def test_missing_fields_name_each_field(user_api):
    response = user_api.post("/api/v1/probe/payments/", {"currency": "usd"}, format="json")
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert body["detail"] == "amount: This field is required."
    assert set(body["fields"]) == {"amount"}


def test_wrong_types_and_choices_are_400(user_api):
    response = user_api.post(
        "/api/v1/probe/payments/", {"amount": "ten", "currency": "doge"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"amount", "currency"}


def test_unknown_or_foreign_id_is_404(user_api, user, other_user):
    assert user_api.get(f"/api/v1/probe/people/{user.pk}/").status_code == 200
    for pk in (other_user.pk, 999_999):
        response = user_api.get(f"/api/v1/probe/people/{pk}/")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_unknown_api_path_is_json_404(user_api):
    response = user_api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert user_api.get("/api/v1/probe/people/abc/").json()["code"] == "not_found"


def test_unauthenticated_call_is_401(api):
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"]


def test_wrong_method_is_405(user_api):
    response = user_api.get("/api/v1/probe/transition/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_domain_error_becomes_409_with_its_code(user_api):
    response = user_api.post("/api/v1/probe/transition/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "code": "invalid_transition",
        "detail": "A released milestone cannot be funded.",
    }


def test_money_scope_is_throttled(user_api, monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"money": "3/min", "user": "1000/min", "anon": "1/min"},
    )
    codes = [
        user_api.post(
            "/api/v1/probe/payments/", {"amount": 5, "currency": "usd"}, format="json"
        ).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    last = user_api.post("/api/v1/probe/payments/", {"amount": 5, "currency": "usd"}, format="json")
    assert last.json()["code"] == "throttled"
    assert int(last["Retry-After"]) > 0
