"""Server-rendered pages: layout, accessibility landmarks, login, security headers."""

import pytest
from django.conf import settings

from tests.factories import PASSWORD, verified_user

pytestmark = pytest.mark.django_db


def test_home_page_has_landmarks_navigation_and_local_htmx(client):
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    for landmark in (
        'role="banner"',
        '<nav aria-label="Main">',
        '<main id="main"',
        'role="contentinfo"',
    ):
        assert landmark in html
    assert 'href="#main"' in html  # skip link
    assert '<html lang="en">' in html
    assert "/static/vendor/htmx.min.js" in html
    assert "https://" not in html.split("<body")[0]  # nothing loaded from a CDN
    assert "Log in" in html


def test_htmx_ships_from_npm_into_static():
    vendored = settings.BASE_DIR / "static" / "vendor" / "htmx.min.js"
    assert vendored.exists(), "run `make deps` (npm ci copies htmx into static/vendor)"
    assert b"htmx" in vendored.read_bytes()[:2000]


def test_pages_send_csp_and_security_headers(client):
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_login_page_logs_in_and_greets_the_user(client):
    user = verified_user(email="clara@example.test", first_name="Clara", last_name="Client")
    page = client.get("/accounts/login/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<label for="id_login">' in html
    assert 'autocomplete="current-password"' in html
    assert "Sign in with Ethereum" in html
    response = client.post(
        "/accounts/login/", {"login": "CLARA@example.test", "password": PASSWORD}, follow=True
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert int(client.session["_auth_user_id"]) == user.pk
    assert "Clara Client" in html
    assert "Log out" in html


def test_wrong_password_is_a_form_error_not_a_login(client):
    verified_user(email="clara@example.test")
    response = client.post("/accounts/login/", {"login": "clara@example.test", "password": "nope"})
    assert response.status_code == 200
    assert 'class="form-errors" role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_asks_first_and_happens_on_post(client, user):
    client.force_login(user)
    confirm = client.get("/accounts/logout/")
    assert confirm.status_code == 200
    assert "_auth_user_id" in client.session
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_csrf_is_enforced_on_pages():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"login": "a@b.test", "password": "x"})
    assert response.status_code == 403


def test_api_docs_and_schema_are_served(client):
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.content.decode()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = schema.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/me/" in document["paths"]
    assert "/api/v1/ping/" in document["paths"]


def test_api_docs_page_allows_inline_style_but_no_inline_script(client):
    csp = client.get("/api/v1/docs/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp
    assert "script-src 'self';" in csp + ";"
    assert "unsafe-inline" not in client.get("/")["Content-Security-Policy"]
