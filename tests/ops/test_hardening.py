"""Hardening: rate limits on every write, login lockout that grows, uploads checked by
content, a script policy without inline code, and the security headers production
sends."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from smartpay.errors import DomainError
from smartpay.uploads import check_upload
from tests.factories import PASSWORD, verified_user
from tests.helpers import ROOT, production_env, run_python

# --- every write is rate limited -------------------------------------------------------------


def test_page_writes_are_limited_per_person_with_a_page_that_says_how_long_to_wait(db, settings):
    settings.PAGE_WRITE_RATE = "3/min"
    ann, bob = Client(), Client()
    ann.force_login(verified_user())
    bob.force_login(verified_user())
    for _ in range(3):
        assert ann.post("/jobs/new/", {}).status_code != 429
    refused = ann.post("/jobs/new/", {})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    text = refused.content.decode()
    assert "Too many requests" in text
    assert re.search(r"Please wait \d+ seconds? and try again", text)
    # Reading is not limited, and another person is not affected.
    assert ann.get("/jobs/").status_code == 200
    assert bob.post("/jobs/new/", {}).status_code != 429


def test_visitors_are_limited_by_address(db, settings):
    settings.PAGE_WRITE_RATE = "2/min"
    one, other = Client(REMOTE_ADDR="203.0.113.7"), Client(REMOTE_ADDR="203.0.113.8")
    assert one.post("/jobs/new/", {}).status_code != 429
    assert one.post("/jobs/new/", {}).status_code != 429
    assert one.post("/jobs/new/", {}).status_code == 429
    assert other.post("/jobs/new/", {}).status_code != 429


def test_webhooks_are_never_refused_by_the_page_limit(db, settings):
    settings.PAGE_WRITE_RATE = "1/min"
    visitor = Client()
    statuses = {visitor.post("/webhooks/stripe/", b"{}", "application/json").status_code}
    statuses.add(visitor.post("/webhooks/stripe/", b"{}", "application/json").status_code)
    assert 429 not in statuses
    assert statuses == {400}  # unsigned: refused by the signature check, not the limit


def _api_views(patterns: list[Any], prefix: str = "") -> list[tuple[str, type[APIView]]]:
    found: list[tuple[str, type[APIView]]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _api_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "view_class", None) or getattr(
                pattern.callback, "cls", None
            )
            if isinstance(view_class, type) and issubclass(view_class, APIView):
                found.append((prefix + str(pattern.pattern), view_class))
    return found


def test_every_api_endpoint_that_writes_has_throttles():
    views = [
        (route, view)
        for route, view in _api_views(get_resolver().url_patterns)
        if route.startswith("api/v1/")
    ]
    assert len(views) > 40
    writers = [
        (route, view)
        for route, view in views
        if {"post", "put", "patch", "delete"} & {name for name in dir(view)}
    ]
    assert writers
    unthrottled = [route for route, view in writers if not view().get_throttles()]
    assert unthrottled == []


# --- login lockout grows ---------------------------------------------------------------------


def test_failed_logins_lock_the_address_out_for_longer_each_time(db, monkeypatch):
    """5 failures in 5 minutes lock the address; after the window, 5 more within the
    hour lock it for the rest of the hour (the 10/1h limit), not 5 more minutes."""
    from allauth.core.internal import ratelimit

    clock = [1_900_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    user = verified_user()
    browser = Client()

    def log_in(password: str) -> str:
        response = browser.post("/accounts/login/", {"login": user.email, "password": password})
        return response.content.decode() if response.status_code == 200 else "signed in"

    for _ in range(5):
        assert "Too many failed login attempts" not in log_in("wrong")
    assert "Too many failed login attempts" in log_in(PASSWORD)  # even the right password

    clock[0] += 6 * 60  # the 5-minute lockout is over
    for _ in range(5):
        assert "Too many failed login attempts" not in log_in("wrong")
    assert "Too many failed login attempts" in log_in(PASSWORD)
    clock[0] += 6 * 60  # a second 5-minute wait is not enough any more
    assert "Too many failed login attempts" in log_in(PASSWORD)
    clock[0] += 60 * 60  # after the hour, the right password works
    assert log_in(PASSWORD) == "signed in"


# --- uploads are judged by their content ---------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"1 0 obj\n" * 8
EXE = b"MZ\x90\x00" + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("invoice.pdf", PNG),  # a picture renamed
        ("photo.png", EXE),  # a program renamed
        ("notes.txt", EXE),  # binary content with a text name
        ("report.docx", PDF),  # not a zip container
        ("clip.mp4", PDF),
    ],
)
def test_an_upload_whose_content_does_not_match_its_name_is_refused(name, content):
    with pytest.raises(DomainError) as refused:
        check_upload(SimpleUploadedFile(name, content), max_bytes=1024 * 1024)
    assert refused.value.code == "file_type_not_allowed"
    assert "does not look like" in refused.value.detail


@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "run.exe", "script.js", "noext"])
def test_types_a_browser_would_run_are_not_accepted_at_all(name):
    with pytest.raises(DomainError) as refused:
        check_upload(SimpleUploadedFile(name, b"<html></html>"), max_bytes=1024)
    assert refused.value.code == "file_type_not_allowed"


def test_the_client_content_type_is_ignored_and_the_stored_one_comes_from_the_check():
    upload = SimpleUploadedFile("scan.pdf", PDF, content_type="text/html")
    checked = check_upload(upload, max_bytes=1024 * 1024)
    assert checked.content_type == "application/pdf"
    assert len(checked.sha256) == 64


# --- scripts: no inline code, so the policy needs no 'unsafe-inline' --------------------------


def test_the_script_policy_allows_only_our_own_files(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"]
    assert "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_no_template_carries_inline_script_or_event_handlers():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", text, re.S | re.I):
            attributes, body = match.groups()
            if "src=" not in attributes and "application/json" not in attributes:
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
            elif body.strip():
                offenders.append(f"{path.relative_to(ROOT)}: code inside <script src>")
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text, re.I):
            offenders.append(f"{path.relative_to(ROOT)}: on*= event handler")
        if re.search(r"href\s*=\s*[\"']\s*javascript:", text, re.I):
            offenders.append(f"{path.relative_to(ROOT)}: javascript: link")
    assert offenders == []


# --- production's headers ------------------------------------------------------------------

HEADERS_SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
call_command("collectstatic", verbosity=0, interactive=False)
from django.test import Client
browser = Client(HTTP_HOST="smartpay.example")
page = browser.get("/accounts/login/", secure=True)
plain = browser.get("/jobs/")
api = browser.get("/api/v1/me/", secure=True)
print(json.dumps({
    "page": dict(page.headers),
    "cookies": {name: dict(morsel) for name, morsel in page.cookies.items()},
    "plain_status": plain.status_code,
    "plain_location": plain.headers.get("Location", ""),
    "api": dict(api.headers),
}))
"""


def test_production_sends_every_security_header(tmp_path: Path):
    env = production_env(tmp_path)
    result = run_python(HEADERS_SCRIPT, env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    page = seen["page"]
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "X-Request-ID" in page
    csrf = seen["cookies"]["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"
    # Plain HTTP is sent to HTTPS.
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://smartpay.example/jobs/"
    # The API answers with the same headers (no framing, no sniffing).
    assert seen["api"]["X-Content-Type-Options"] == "nosniff"
    assert seen["api"]["X-Frame-Options"] == "DENY"
