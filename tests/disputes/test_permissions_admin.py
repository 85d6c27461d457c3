"""Who may do what in the admin's dispute console: every role on the index, the queue,
the case page and its resolve, confirm and assign forms; and arbiters kept out of
every other admin model.

Staff sign in the way the admin requires: allauth's login with the password, then a
TOTP code (computed by tests/totp.py, not by the library). Without the second factor
even staff are sent away. Parties, strangers and signed-out visitors are redirected to
a login. A refusal on a form shows an error message and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from disputes.models import Dispute
from marketplace.models import User
from tests.disputes.helpers import make_arbiter
from tests.disputes.test_permissions import (
    PARTIES,
    ROLES,
    STAFF,
    Case,
    Route,
    assert_changed,
    assert_unchanged,
    build_case,
    make_manager,
    snapshot,
    status_is,
)
from tests.factories import verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db

LOGIN = 302
ADMIN_DEFAULTS: dict[str, int | tuple[int, ...]] = {
    **dict.fromkeys([*PARTIES, "stranger", "anonymous"], LOGIN),
    # An arbiter with a conflict never has the case in their queue.
    "conflicted_arbiter": 404,
}
# A refused form re-renders the case page with the service's refusal as a message.
REFUSED_ON_PAGE = 200
QUEUE_SEERS = ("arbiter", "manager", "superuser")


def admin_browser(user: User | None) -> Client:
    """Staff pass allauth's login and the TOTP step; anyone else is merely signed in."""
    browser = Client()
    if user is None:
        return browser
    if not user.is_staff:
        browser.force_login(user)
        return browser
    return signed_in_with_mfa(user, browser)


def case_url(case: Case) -> str:
    return reverse("admin:disputes_dispute_change", args=[case.pk])


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


ADMIN_ROUTES: list[Route] = [
    Route(
        "admin:index",
        "get",
        "escalated",
        allowed=dict.fromkeys(STAFF, 200),
        kwargs=lambda case: {},
    ),
    Route(
        "admin:disputes_dispute_changelist",
        "get",
        "escalated",
        allowed=dict.fromkeys(STAFF, 200),
        kwargs=lambda case: {},
        # The other arbiter's queue: unassigned cases and decisions to confirm.
        lists_case_for=QUEUE_SEERS,
    ),
    Route(
        "admin:disputes_dispute_changelist",
        "get",
        "open",
        allowed=dict.fromkeys(STAFF, 200),
        kwargs=lambda case: {},
        # Unassigned: in the queue of every arbiter without a conflict.
        lists_case_for=("arbiter", "other_arbiter", "manager", "superuser"),
        variant="unassigned",
    ),
    Route(
        "admin:disputes_dispute_change",
        "get",
        "confirming",
        # Waiting for a second arbiter: any arbiter without a conflict may look.
        allowed=dict.fromkeys(["arbiter", "other_arbiter", "manager", "superuser"], 200),
        kwargs=lambda case: {"object_id": case.pk},
        variant="confirming",
    ),
    Route(
        "admin:disputes_dispute_change",
        "get",
        "escalated",
        allowed=dict.fromkeys(QUEUE_SEERS, 200),
        refused={"other_arbiter": 404},
        kwargs=lambda case: {"object_id": case.pk},
    ),
    Route(
        "admin:disputes_dispute_resolve",
        "post",
        "escalated",
        allowed={"arbiter": 302},
        refused={
            "other_arbiter": 404,  # not in their queue
            "manager": REFUSED_ON_PAGE,  # not an arbiter
            "superuser": REFUSED_ON_PAGE,  # ops, not in the arbiters group
        },
        kwargs=lambda case: {"dispute_id": case.pk},
        body=lambda case: {
            "freelancer_share_bps": "7000",
            "rationale": "Most of the work was delivered.",
        },
        effect=status_is(Dispute.Status.DECIDED, decided_by_id="arbiter"),
    ),
    Route(
        "admin:disputes_dispute_confirm",
        "post",
        "confirming",
        allowed={"other_arbiter": 302},
        refused={
            "arbiter": REFUSED_ON_PAGE,  # their own decision
            "manager": REFUSED_ON_PAGE,  # not an arbiter
            "superuser": REFUSED_ON_PAGE,  # ops, not in the arbiters group
        },
        kwargs=lambda case: {"dispute_id": case.pk},
        body=lambda case: {"agree": "yes", "note": ""},
        effect=status_is(
            Dispute.Status.DECIDED, decided_by_id="arbiter", second_arbiter_id="__actor__"
        ),
    ),
    Route(
        "admin:disputes_dispute_assign",
        "post",
        "escalated",
        allowed={"manager": 302, "superuser": 302},
        refused={
            "arbiter": REFUSED_ON_PAGE,  # staff who manage disputes assign
            "other_arbiter": 404,
        },
        kwargs=lambda case: {"dispute_id": case.pk},
        body=lambda case: {"arbiter": str(case.users["other_arbiter"].pk)},
        effect=status_is(Dispute.Status.ESCALATED, arbiter_id="other_arbiter"),
    ),
]
ADMIN = {route.key: route for route in ADMIN_ROUTES}


def test_every_dispute_admin_page_is_in_the_matrix() -> None:
    """The dispute admin's own URLs: a new one fails here until it is listed above."""
    model_admin = admin.site._registry[Dispute]
    names = {f"admin:{p.name}" for p in model_admin.get_urls() if p.name}
    # Pages this admin refuses to everyone (nothing is added, edited or deleted by hand).
    never = {
        "admin:disputes_dispute_add",
        "admin:disputes_dispute_delete",
        "admin:disputes_dispute_history",
    }
    assert names - never == {route.name for route in ADMIN_ROUTES} - {"admin:index"}
    assert len(ADMIN) == len(ADMIN_ROUTES)
    for route in ADMIN_ROUTES:
        assert set(route.allowed) | set(route.refused) <= set(ROLES), route.key


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(ADMIN))
def test_admin_page_for_role(key: str, role: str, settings: Any, tmp_media: Any) -> None:
    route = ADMIN[key]
    case = build_case(route.stage, settings)
    url = reverse(route.name, kwargs=route.kwargs(case))
    browser = admin_browser(case.user(role))
    before = snapshot(case)
    allowed, status = route.expect(role, ADMIN_DEFAULTS)
    response = browser.post(url, route.body(case)) if route.writes else browser.get(url)
    statuses = status if isinstance(status, tuple) else (status,)
    what = f"{route.method.upper()} {url} as {role}"
    assert response.status_code in statuses, f"{what} -> {response.status_code}"
    if role in (*PARTIES, "stranger", "anonymous"):
        assert "login" in response["Location"], f"{what} -> {response['Location']}"
        # Followed: the signed-out to allauth's login page, the signed-in to the home page.
        landed = browser.get(response["Location"], follow=True).request["PATH_INFO"]
        assert landed == (reverse("account_login") if role == "anonymous" else reverse("home"))
    elif allowed and response.status_code == 302:
        assert response["Location"] == case_url(case), what
    if not allowed or not route.writes:
        assert_unchanged(before, case, what)
    else:
        assert_changed(before, case, what)
        assert route.effect is not None
        effect_check(route, case, role)
        shown = messages_of(response)
        assert any(text.startswith(f"Dispute {case.pk}:") for text in shown), shown
    if route.writes and not allowed and response.status_code == REFUSED_ON_PAGE:
        shown = [text for text in messages_of(response) if text]
        assert shown, f"{what}: refused without a word"
        assert not any("unexpectedly" in text for text in shown), shown
    if route.lists_case_for and allowed:
        listed = case_url(case).encode() in response.content
        assert listed == (role in route.lists_case_for), what


def effect_check(route: Route, case: Case, role: str) -> None:
    """``status_is`` with ``__actor__`` standing for the role that acted."""
    assert route.effect is not None
    case.users["__actor__"] = case.users[role]
    try:
        route.effect(case, role)
    finally:
        del case.users["__actor__"]


# --- arbiters see disputes and nothing else -------------------------------------------------

OTHER_MODELS = sorted(
    f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
    for model in admin.site._registry
    if model is not Dispute
)


@pytest.mark.parametrize("role", ["arbiter", "manager", "superuser"])
def test_the_admin_index_and_other_models_by_role(role: str) -> None:
    user = {"arbiter": make_arbiter, "manager": make_manager}.get(
        role, lambda: verified_user(is_staff=True, is_superuser=True)
    )()
    browser = admin_browser(user)
    index = browser.get(reverse("admin:index"))
    assert index.status_code == 200
    apps = {
        app["app_label"]: [m["object_name"] for m in app["models"]]
        for app in index.context["app_list"]
    }
    answers = {name: browser.get(reverse(name)).status_code for name in OTHER_MODELS}
    if role == "superuser":
        assert "Dispute" in apps["disputes"]
        assert set(answers.values()) == {200}, answers
    else:
        # Only the disputes queue: no users, money, audit log or chain records.
        assert apps == {"disputes": ["Dispute"]}, apps
        assert set(answers.values()) == {403}, answers


@pytest.mark.parametrize("make", [make_arbiter, make_manager], ids=["arbiter", "manager"])
def test_staff_without_the_second_factor_are_sent_to_it(make: Any, settings: Any) -> None:
    case = build_case("escalated", settings)
    user = make()
    browser = Client()
    browser.force_login(user)  # a session without the TOTP step
    before = snapshot(case)
    for url in (
        reverse("admin:index"),
        reverse("admin:disputes_dispute_changelist"),
        case_url(case),
    ):
        response = browser.get(url)
        assert response.status_code == 302, url
        # Through the admin's login to setting up an authenticator (which first asks
        # for the password again): never an admin page.
        landed = browser.get(response["Location"], follow=True).request["PATH_INFO"]
        assert landed in (reverse("mfa_activate_totp"), reverse("account_reauthenticate"))
    response = browser.post(
        reverse("admin:disputes_dispute_assign", args=[case.pk]),
        {"arbiter": str(case.users["other_arbiter"].pk)},
    )
    assert response.status_code == 302
    assert_unchanged(before, case, "an assignment without the second factor")
