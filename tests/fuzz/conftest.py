"""A populated world for fuzzing the API: the demo data, loaded once per module.

Seeding the demo takes seconds, so it runs once in an outer transaction that is
rolled back when the module ends (what ``TestCase.setUpTestData`` does for a
class); each test runs inside its own savepoint on top, so one operation's
writes never leak into the next one's world.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client, TestCase
from schemathesis.specs.openapi.schemas import OpenApiSchema

from disputes.models import Dispute, Evidence, SettlementOffer
from escrow.models import Funding, Payout, RefundRequest
from marketplace.models import Contract, Job, Milestone, PortfolioItem, Proposal, User, Wallet
from notifications.models import Conversation, Message, Notification
from smartpay.demo import demo_steps, run_step

SCHEMA_PATH = "/api/v1/schema/"
LOGIN_PATH = "/_allauth/app/v1/auth/login"
ROLES = {
    # The client calls as a third-party app (allauth's X-Session-Token) and the
    # freelancer as the pages do (session cookie and CSRF token): both documented schemes.
    "client": "client@demo.smartpay.test",
    "freelancer": "freelancer@demo.smartpay.test",
}
# Models behind each path parameter, by the collection the path starts with. Real
# ids let the fuzzer past the 404 and into the views' rules.
PATH_MODELS = {
    "contracts": Contract,
    "conversations": Conversation,
    "dispute-offers": SettlementOffer,
    "disputes": Dispute,
    "fundings": Funding,
    "jobs": Job,
    "messages": Message,
    "milestones": Milestone,
    "notifications": Notification,
    "payouts": Payout,
    "profiles": User,
    "proposals": Proposal,
    "refund-requests": RefundRequest,
    "wallets": Wallet,
}
NESTED_PATH_MODELS = {"item_id": PortfolioItem, "evidence_id": Evidence}
IDS_PER_MODEL = 4


class _World(TestCase):
    """Only borrowed for its class-level atomic blocks (``_enter_atomics``)."""

    databases = {"default"}


@dataclass
class Caller:
    """How one role authenticates: headers and cookies added to every request."""

    role: str
    user: User
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class FuzzWorld:
    callers: dict[str, Caller]
    ids: dict[str, list[int]]  # path parameter key -> existing primary keys


def _login_with_token(email: str, password: str) -> dict[str, str]:
    response = Client().post(
        LOGIN_PATH, {"email": email, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return {"X-Session-Token": response.json()["meta"]["session_token"]}


def _login_with_cookie(email: str, password: str) -> tuple[dict[str, str], dict[str, str]]:
    browser = Client()
    assert browser.login(username=email, password=password)
    csrf = _get_new_csrf_string()
    cookies = {"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrf}
    return {"X-CSRFToken": csrf, "Referer": "https://localhost/"}, cookies


def _existing_ids() -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for key, model in {**PATH_MODELS, **NESTED_PATH_MODELS}.items():
        ids[key] = list(
            model.objects.order_by("pk").values_list("pk", flat=True)[:IDS_PER_MODEL]  # type: ignore[attr-defined]
        )
    return ids


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker) -> Iterator[FuzzWorld]:
    """The demo world and a logged-in caller per role, rolled back after the module."""
    with django_db_blocker.unblock():
        atomics = _World._enter_atomics()  # type: ignore[attr-defined]
        try:
            for _label, step in demo_steps():
                run_step(step)
            password = settings.DEMO_PASSWORD
            client = User.objects.get(email=ROLES["client"])
            freelancer = User.objects.get(email=ROLES["freelancer"])
            headers, cookies = _login_with_cookie(freelancer.email, password)
            callers = {
                "client": Caller("client", client, _login_with_token(client.email, password)),
                "freelancer": Caller("freelancer", freelancer, headers, cookies),
            }
            yield FuzzWorld(callers=callers, ids=_existing_ids())
        finally:
            _World._rollback_atomics(atomics)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def wsgi_app(fuzz_world: FuzzWorld) -> Iterator[object]:
    """The project's real WSGI application, in this thread and this test's transaction.

    Like Django's test client, the handler must not close the connection at the end
    of each request: that would end the transaction the world lives in. (After the
    world's logins: Django's test client connects the closing handler again.)"""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def api_schema(wsgi_app: object) -> OpenApiSchema:
    """The live schema, as served to API consumers."""
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, wsgi_app)
