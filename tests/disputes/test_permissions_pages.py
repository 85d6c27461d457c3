"""Who may do what on the parties' dispute pages (disputes/urls.py): every role.

Only the contract's parties have these pages; arbiters and ops staff work in the
admin, so for them, as for a stranger, a case here is a 404. Signed-out visitors are
sent to the login page. A refusal changes nothing (see test_permissions.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from disputes import urls as dispute_urls
from disputes.models import Dispute
from tests.disputes.test_permissions import (
    EVIDENCE_BYTES,
    PARTIES,
    ROLES,
    STAFF,
    Case,
    Route,
    assert_changed,
    assert_unchanged,
    build_case,
    more_evidence,
    new_offer,
    opened_by_role,
    response_bytes,
    route_names,
    snapshot,
    status_is,
)

pytestmark = pytest.mark.django_db

LOGIN = 302  # with a Location on the login page
# Not a party: no such case on the parties' pages.
PAGE_DEFAULTS: dict[str, int | tuple[int, ...]] = {
    **dict.fromkeys([*STAFF, "stranger"], 404),
    **dict.fromkeys(PARTIES, (400, 403, 404, 409)),
    "anonymous": LOGIN,
}
EVERYONE_SIGNED_IN = (*PARTIES, *STAFF, "stranger")


def case_kwargs(case: Case) -> dict[str, object]:
    return {"pk": case.pk}


PAGE_ROUTES: list[Route] = [
    Route(
        "dispute_list",
        "get",
        "escalated",
        allowed=dict.fromkeys(EVERYONE_SIGNED_IN, 200),
        kwargs=lambda case: {},
        lists_case_for=PARTIES,
    ),
    Route(
        "milestone_dispute",
        "get",
        "funded",
        allowed=dict.fromkeys(PARTIES, 200),
        kwargs=lambda case: {"pk": case.milestone.pk},
    ),
    Route(
        "milestone_dispute",
        "post",
        "funded",
        allowed=dict.fromkeys(PARTIES, 302),
        kwargs=lambda case: {"pk": case.milestone.pk},
        body=lambda case: {
            "reason": "quality",
            "description": "Two chapters are missing.",
            "amount": "1000.00",
        },
        effect=opened_by_role,
    ),
    Route("dispute_detail", "get", "escalated", allowed=dict.fromkeys(PARTIES, 200)),
    Route(
        "dispute_evidence_download",
        "get",
        "escalated",
        allowed=dict.fromkeys(PARTIES, 200),
        kwargs=lambda case: {"pk": case.pk, "evidence_id": case.evidence_id},
    ),
    Route(
        "dispute_respond",
        "post",
        "open",
        allowed={"freelancer": 302},
        refused={"client": 403},  # the opener does not respond
        body=lambda case: {"text": "Both chapters are in."},
        effect=status_is(Dispute.Status.RESPONDED),
    ),
    Route(
        "dispute_add_evidence",
        "post",
        "open",
        allowed=dict.fromkeys(PARTIES, 302),
        body=lambda case: {"text": "Another statement."},
        effect=more_evidence,
    ),
    Route(
        "dispute_propose",
        "post",
        "open",
        allowed=dict.fromkeys(PARTIES, 302),
        body=lambda case: {"freelancer_percent": "60"},
        effect=new_offer,
    ),
    Route(
        "dispute_accept_offer",
        "post",
        "open",
        allowed={"freelancer": 302},
        refused={"client": 403},  # their own offer
        kwargs=lambda case: {"pk": case.pk, "offer_id": case.offer_id},
        effect=status_is(Dispute.Status.SETTLED, freelancer_share_bps=5_000),
    ),
    Route(
        "dispute_escalate",
        "post",
        "open",
        allowed=dict.fromkeys(PARTIES, 302),
        effect=status_is(Dispute.Status.ESCALATED, arbiter_id="arbiter"),
    ),
    Route(
        "dispute_withdraw",
        "post",
        "open",
        allowed={"client": 302},
        refused={"freelancer": 403},  # only the opener withdraws
        effect=status_is(Dispute.Status.WITHDRAWN),
    ),
    Route(
        "dispute_appeal",
        "post",
        "decided",
        allowed=dict.fromkeys(PARTIES, 302),
        body=lambda case: {"reason": "The call log was ignored."},
        effect=status_is(Dispute.Status.ESCALATED, is_appeal=True, arbiter_id="other_arbiter"),
    ),
]
PAGES = {route.key: route for route in PAGE_ROUTES}


def test_every_dispute_page_is_in_the_matrix() -> None:
    """A new dispute page fails here until its roles are written down above."""
    assert route_names(dispute_urls.urlpatterns) == {route.name for route in PAGE_ROUTES}
    assert len(PAGES) == len(PAGE_ROUTES)
    for route in PAGE_ROUTES:
        assert set(route.allowed) | set(route.refused) <= set(ROLES), route.key


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(PAGES))
def test_page_for_role(key: str, role: str, settings: Any, tmp_media: Any) -> None:
    route = PAGES[key]
    case = build_case(route.stage, settings)
    url = reverse(route.name, kwargs=route.kwargs(case))
    before = snapshot(case)
    allowed, status = route.expect(role, PAGE_DEFAULTS)
    browser = Client()
    user = case.user(role)
    if user is not None:
        browser.force_login(user)
    response = browser.post(url, route.body(case)) if route.writes else browser.get(url)
    content = response_bytes(response)
    statuses = status if isinstance(status, tuple) else (status,)
    what = f"{route.method.upper()} {url} as {role}"
    assert response.status_code in statuses, f"{what} -> {response.status_code}"
    if role == "anonymous":
        assert response["Location"].startswith(reverse("account_login")), response["Location"]
    elif allowed and response.status_code == 302:
        # Success lands on the case page.
        dispute = Dispute.objects.filter(milestone=case.milestone).order_by("-pk").first()
        assert dispute is not None
        assert response["Location"] == reverse("dispute_detail", args=[dispute.pk])
    if not allowed or not route.writes:
        assert_unchanged(before, case, what)
    else:
        assert_changed(before, case, what)
        if route.effect is not None:
            route.effect(case, role)
    if route.lists_case_for and allowed:
        listed = reverse("dispute_detail", args=[case.pk]).encode() in content
        assert listed == (role in route.lists_case_for), what
    if route.name == "dispute_evidence_download" and allowed:
        assert content == EVIDENCE_BYTES
    if route.name == "dispute_detail" and allowed:
        # Both parties read the same case: its status in words and the file's digest.
        text = content.decode()
        assert Dispute.Status.ESCALATED.label in text
        assert case.dispute is not None
        digest = case.dispute.evidence.exclude(file="").get().sha256
        assert digest in text
