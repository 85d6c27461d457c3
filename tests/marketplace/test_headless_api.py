"""A third-party app with HTTP alone: sign up, verify, log in with TOTP, call the API."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import PASSWORD, verified_user
from tests.helpers import link_in_last_mail
from tests.totp import totp_code

pytestmark = pytest.mark.django_db
APP = "/_allauth/app/v1"


def call(client: APIClient, method: str, path: str, token: str | None = None, **body: object):
    headers = {"X-Session-Token": token} if token else {}
    return getattr(client, method)(path, body or None, format="json", headers=headers)


def flows_pending(response) -> set[str]:
    return {f["id"] for f in response.json()["data"].get("flows", []) if f.get("is_pending")}


def test_app_signs_up_verifies_enables_totp_and_logs_in_with_it():
    app = APIClient()
    signup = call(
        app, "post", f"{APP}/auth/signup", email="app@example.test", password=PASSWORD, role="both"
    )
    assert signup.status_code == 401
    assert flows_pending(signup) == {"verify_email"}
    token = signup.json()["meta"]["session_token"]

    assert call(app, "get", "/api/v1/me/", token).status_code == 401  # not verified yet

    key = link_in_last_mail(r"/accounts/confirm-email/[^/\s]+/").split("/")[-2]
    verified = call(app, "post", f"{APP}/auth/email/verify", token, key=key)
    assert verified.status_code == 200, verified.json()
    assert verified.json()["meta"]["is_authenticated"] is True
    token = verified.json()["meta"]["session_token"]  # logging in rotates the session

    me = call(app, "get", "/api/v1/me/", token)
    assert me.status_code == 200
    assert me.json()["email"] == "app@example.test"
    assert me.json()["roles"] == ["client", "freelancer"]
    assert me.json()["email_verified"] is True
    assert me.json()["mfa_enabled"] is False

    setup = call(app, "get", f"{APP}/account/authenticators/totp", token)
    assert setup.status_code == 404  # no TOTP yet; the response carries a fresh secret
    secret = setup.json()["meta"]["secret"]
    assert (
        call(app, "post", f"{APP}/auth/reauthenticate", token, password=PASSWORD).status_code == 200
    )
    activated = call(
        app, "post", f"{APP}/account/authenticators/totp", token, code=totp_code(secret)
    )
    assert activated.status_code == 200, activated.json()
    cache.clear()  # the activation code is spent for this 30 s window

    assert call(app, "delete", f"{APP}/auth/session", token).status_code == 401
    assert call(app, "get", "/api/v1/me/", token).status_code == 401  # logged out

    login = call(app, "post", f"{APP}/auth/login", email="app@example.test", password=PASSWORD)
    assert login.status_code == 401
    assert flows_pending(login) == {"mfa_authenticate"}
    pending_token = login.json()["meta"]["session_token"]
    assert call(app, "get", "/api/v1/me/", pending_token).status_code == 401  # half logged in

    wrong = call(app, "post", f"{APP}/auth/2fa/authenticate", pending_token, code="123456")
    assert wrong.status_code == 400
    done = call(app, "post", f"{APP}/auth/2fa/authenticate", pending_token, code=totp_code(secret))
    assert done.status_code == 200, done.json()
    session_token = done.json()["meta"]["session_token"]

    me = call(app, "get", "/api/v1/me/", session_token)
    assert me.status_code == 200
    assert me.json()["mfa_enabled"] is True


def test_unknown_session_token_is_refused():
    response = call(APIClient(), "get", "/api/v1/me/", "not-a-real-token")
    assert response.status_code in (401, 403)
    assert response.json()["code"] in ("not_authenticated", "authentication_failed")


def test_wrong_password_over_the_api_does_not_say_whether_the_account_exists():
    user = verified_user()
    unknown = call(
        APIClient(), "post", f"{APP}/auth/login", email="nobody@example.test", password="x"
    )
    wrong = call(APIClient(), "post", f"{APP}/auth/login", email=user.email, password="x")
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()
    assert unknown.json()["errors"][0]["code"] == "email_password_mismatch"
    assert "x" not in [e.get("value") for e in wrong.json()["errors"]]  # the password is not echoed
