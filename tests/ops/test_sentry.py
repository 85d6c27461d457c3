"""Sentry, only with SENTRY_DSN: a failing request and a failing task reach a real HTTP
ingest endpoint (a local server standing in for Sentry) tagged with their request id,
with no secret in what was sent; without a DSN nothing is set up."""

from __future__ import annotations

import gzip
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk

from smartpay.observability import init_sentry, scrub_event
from smartpay.request_context import acting_from
from tests.helpers import child_env, run_python


class Ingest(ThreadingHTTPServer):
    """Keeps every envelope posted to it, decompressed."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), IngestHandler)
        self.bodies: list[bytes] = []
        self.paths: list[str] = []

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server_address[1]}/1"

    def events(self) -> list[dict]:
        """The ``event`` items of all envelopes (header line, item header, payload...)."""
        found = []
        for body in self.bodies:
            lines = body.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


class IngestHandler(BaseHTTPRequestHandler):
    server: Ingest

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.bodies.append(body)
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    server = Ingest()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


FAIL_TWICE = """
import json, django
django.setup()
import sentry_sdk
from django.test import Client, override_settings
from smartpay.celery import REQUEST_ID_HEADER
from tests.ops.failing import explode
with override_settings(ROOT_URLCONF="tests.ops.failing"):
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    response = client.get("/api/boom/", HTTP_X_REQUEST_ID="req-sentry-page")
task = explode.apply(headers={REQUEST_ID_HEADER: "req-sentry-task"})
sentry_sdk.flush(timeout=10)
print(json.dumps({"status": response.status_code, "task": task.state,
                  "active": sentry_sdk.get_client().is_active()}))
"""


def test_a_failing_request_and_task_reach_sentry_tagged_and_without_secrets(ingest, tmp_path):
    arbiter_key = "0x" + secrets.token_hex(32)
    stripe_key = "sk_test_" + secrets.token_hex(20)
    env = child_env(
        tmp_path,
        SENTRY_DSN=ingest.dsn,
        CHAIN_ARBITER_KEY=arbiter_key,
        STRIPE_SECRET_KEY=stripe_key,
        LOG_FORMAT="json",
    )
    result = run_python(FAIL_TWICE, env, timeout=90)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"status": 500, "task": "FAILURE", "active": True}

    assert ingest.paths
    assert all(path.startswith("/api/1/envelope/") for path in ingest.paths)
    events = ingest.events()
    by_request = {event["tags"].get("request_id"): event for event in events}
    page, task = by_request["req-sentry-page"], by_request["req-sentry-task"]
    assert page["exception"]["values"][-1]["type"] == "SigningFailed"
    assert page["exception"]["values"][-1]["value"] == (
        "signing failed with [Filtered] ([Filtered])"
    )
    assert page["tags"]["origin"] == "request"
    assert task["exception"]["values"][-1]["value"] == "provider refused key [Filtered]"
    assert task["tags"]["origin"] == "task:tests.explode"
    # send_default_pii is off: no client address, no cookies.
    assert "ip_address" not in page.get("user", {})
    assert "REMOTE_ADDR" not in json.dumps(page.get("request", {}))

    sent = b"".join(ingest.bodies).decode().lower()
    for secret in (arbiter_key, arbiter_key[2:], stripe_key):
        assert secret.lower() not in sent


def test_without_a_dsn_nothing_is_set_up_or_sent(ingest, tmp_path):
    code = (
        "import django; django.setup()\n"
        "import sentry_sdk\n"
        "print(sentry_sdk.get_client().is_active())\n"
    )
    env = child_env(tmp_path)
    env.pop("SENTRY_DSN", None)
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert init_sentry("", environment="test") is False
    assert not sentry_sdk.get_client().is_active()
    assert ingest.bodies == []


def test_scrubbing_blanks_secret_settings_wherever_they_appear(settings):
    settings.CHAIN_ARBITER_KEY = "0x" + "ab" * 32
    settings.STRIPE_WEBHOOK_SECRET = "whsec_" + "9" * 24
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_public_on_every_page"
    event: Any = {
        "message": f"key {'AB' * 32} rejected",
        "extra": {"nested": [{"hook": settings.STRIPE_WEBHOOK_SECRET}]},
        "breadcrumbs": {"values": [{"message": f"signing with {settings.CHAIN_ARBITER_KEY}"}]},
        "tags": {},
        "contexts": {"page": settings.STRIPE_PUBLISHABLE_KEY},
    }
    with acting_from("task:escrow.settle", request_id="req-scrub"):
        scrubbed: Any = scrub_event(event, {})
    assert scrubbed["message"] == "key [Filtered] rejected"
    assert scrubbed["extra"]["nested"][0]["hook"] == "[Filtered]"
    assert scrubbed["breadcrumbs"]["values"][0]["message"] == "signing with [Filtered]"
    assert scrubbed["contexts"]["page"] == "pk_test_public_on_every_page"
    assert scrubbed["tags"] == {"request_id": "req-scrub", "origin": "task:escrow.settle"}
