"""Escrow fixtures: the fake Stripe server, and a webhook receiver for sandbox events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.escrow.fake_stripe import FakeStripe


@pytest.fixture(scope="session")
def _fake_stripe_server() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(_fake_stripe_server: FakeStripe, settings: Any) -> FakeStripe:
    """Stripe is the card provider, and its API is the fake (fresh state per test)."""
    _fake_stripe_server.reset()
    settings.STRIPE_SECRET_KEY = _fake_stripe_server.api_key
    settings.STRIPE_API_BASE = _fake_stripe_server.url
    settings.STRIPE_TIMEOUT_SECONDS = 5
    return _fake_stripe_server


@dataclass
class Delivery:
    path: str
    body: bytes
    signature: str


class WebhookReceiver:
    """Stands where ``/webhooks/stripe/`` is: records each POST and answers ``statuses``
    in turn (then 200), so tests can make deliveries fail."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get("Stripe-Signature", "")
                receiver.deliveries.append(Delivery(self.path, body, signature))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook_receiver(settings: Any, eager_tasks: None) -> Iterator[WebhookReceiver]:
    """The site (``SITE_URL``) is a local receiver; sandbox events are delivered to it."""
    receiver = WebhookReceiver()
    settings.SITE_URL = receiver.url
    yield receiver
    receiver.stop()
