"""Who may do what on a dispute: every role on every dispute API endpoint.

The pages are in test_permissions_pages.py and the admin in test_permissions_admin.py;
this module also holds what they share: the roles, a case built up to the stage a route
needs, and a snapshot of everything a request could change.

Roles: the contract's ``client`` (who opened the dispute) and ``freelancer``; the
case's ``arbiter``; an ``other_arbiter`` without a conflict who does not have the case
(the second arbiter where one confirms); a ``conflicted_arbiter`` who worked for the
client on another contract; ``manager``, ops staff with the disputes permissions but
not an arbiter; ``superuser`` (ops); a verified ``stranger``; and ``anonymous``.
Every refusal is checked to have changed nothing: the dispute's fields, its events,
evidence and offers, the milestone, ledger transfers and the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

from disputes import api_urls
from disputes import services as dispute_services
from disputes.models import Dispute, DisputeEvent, Evidence, SettlementOffer
from escrow.models import Transfer
from marketplace.models import Contract, Milestone, User
from smartpay.models import AuditEntry
from tests.disputes.helpers import funded_milestone, make_arbiter
from tests.factories import make_contract, make_job, make_proposal, verified_user

pytestmark = pytest.mark.django_db

ROLES = (
    "client",
    "freelancer",
    "arbiter",
    "other_arbiter",
    "conflicted_arbiter",
    "manager",
    "superuser",
    "stranger",
    "anonymous",
)
PARTIES = ("client", "freelancer")
STAFF = ("arbiter", "other_arbiter", "conflicted_arbiter", "manager", "superuser")
EVIDENCE_BYTES = b"The brief both parties signed."

# --- the case ------------------------------------------------------------------------------


@dataclass
class Case:
    contract: Contract
    milestone: Milestone
    users: dict[str, User]
    dispute: Dispute | None = None
    offer_id: int | None = None
    evidence_id: int | None = None

    @property
    def pk(self) -> int:
        assert self.dispute is not None
        return self.dispute.pk

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else self.users[role]


def make_manager() -> User:
    """Ops staff who manage disputes (view and change permission) but do not arbitrate."""
    user = verified_user(is_staff=True, is_client=False)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="disputes", codename__in=["view_dispute", "change_dispute"]
        )
    )
    return User.objects.get(pk=user.pk)


def conflicted_arbiter(client: User) -> User:
    """An arbiter who was the freelancer on another contract of ``client``."""
    arbiter = make_arbiter()
    make_contract(make_proposal(make_job(client), freelancer=arbiter))
    return arbiter


STAGES = ("funded", "open", "escalated", "confirming", "decided")


def build_case(stage: str, settings: Any) -> Case:
    """A card milestone of 1,000.00 USD taken to ``stage``:

    * funded: no dispute yet;
    * open: the client opened a dispute, added a file and offered 50 %;
    * escalated: then asked for an arbiter; ``arbiter`` has the case;
    * confirming: ``arbiter`` decided 70 % above the second-arbiter threshold;
    * decided: ``arbiter`` decided 70 % (below the threshold), open to appeal.
    """
    assert stage in STAGES, stage
    # Only the confirming stage needs a second arbiter.
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 1_000} if stage == "confirming" else {}
    contract, milestone = funded_milestone((100_000,))
    arbiter = make_arbiter()  # created first: the round-robin's pick on a tie
    users = {
        "client": contract.client,
        "freelancer": contract.freelancer,
        "arbiter": arbiter,
        "other_arbiter": make_arbiter(),
        "conflicted_arbiter": conflicted_arbiter(contract.client),
        "manager": make_manager(),
        "superuser": verified_user(is_staff=True, is_superuser=True, is_client=False),
        "stranger": verified_user(),
    }
    case = Case(contract=contract, milestone=milestone, users=users)
    if stage == "funded":
        return case
    client = contract.client
    case.dispute = dispute_services.open_dispute(
        actor=client, milestone_id=milestone.pk, reason="quality", description="Not as agreed."
    )
    rows = dispute_services.add_evidence(
        actor=client,
        dispute_id=case.pk,
        text="The brief.",
        files=[SimpleUploadedFile("brief.txt", EVIDENCE_BYTES)],
    )
    case.evidence_id = next(row.pk for row in rows if row.file)
    offer = dispute_services.propose_settlement(
        actor=client, dispute_id=case.pk, freelancer_share_bps=5_000
    )
    case.offer_id = offer.pk
    if stage != "open":
        dispute_services.escalate_dispute(actor=client, dispute_id=case.pk)
        dispute_services.assign_arbiter(
            actor=users["superuser"], dispute_id=case.pk, arbiter_id=arbiter.pk
        )
    if stage in ("confirming", "decided"):
        dispute_services.resolve_dispute(
            actor=arbiter,
            dispute_id=case.pk,
            freelancer_share_bps=7_000,
            rationale="Most of the work was delivered.",
        )
    case.dispute = Dispute.objects.get(pk=case.pk)
    expected = {
        "open": Dispute.Status.OPEN,
        "escalated": Dispute.Status.ESCALATED,
        "confirming": Dispute.Status.CONFIRMING,
        "decided": Dispute.Status.DECIDED,
    }[stage]
    assert case.dispute.status == expected
    if stage != "open":
        assert case.dispute.arbiter_id == arbiter.pk
    return case


def snapshot(case: Case) -> dict[str, Any]:
    """Everything on the case a request could write."""
    disputes = Dispute.objects.filter(milestone=case.milestone).order_by("pk")
    return {
        "disputes": list(
            disputes.values(
                "pk",
                "status",
                "arbiter_id",
                "assigned_at",
                "decided_by_id",
                "second_arbiter_id",
                "freelancer_share_bps",
                "rationale",
                "is_appeal",
                "appealed_at",
                "resolved_at",
            )
        ),
        "events": DisputeEvent.objects.filter(dispute__in=disputes).count(),
        "evidence": Evidence.objects.filter(dispute__in=disputes).count(),
        "offers": list(
            SettlementOffer.objects.filter(dispute__in=disputes)
            .order_by("pk")
            .values_list("pk", "status")
        ),
        "milestone": Milestone.objects.get(pk=case.milestone.pk).status,
        "transfers": Transfer.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def assert_unchanged(before: dict[str, Any], case: Case, what: str) -> None:
    after = snapshot(case)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"{what} was refused but changed: {changed}"


def assert_changed(before: dict[str, Any], case: Case, what: str) -> None:
    assert snapshot(case) != before, f"{what} was allowed but changed nothing"


# --- the API matrix ------------------------------------------------------------------------

Kwargs = Callable[[Case], dict[str, object]]
Body = Callable[[Case], dict[str, Any]]


def dispute_pk(case: Case) -> dict[str, object]:
    return {"pk": case.pk}


def no_body(case: Case) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Route:
    """One endpoint (or page) and what each role gets.

    ``allowed``: role -> the status of success; ``refused``: role -> the status (or
    statuses) of refusal. Roles in neither get the route kind's default refusal.
    """

    name: str
    method: str
    stage: str
    allowed: Mapping[str, int]
    refused: Mapping[str, int | tuple[int, ...]] = field(default_factory=dict)
    kwargs: Kwargs = dispute_pk
    body: Body = no_body
    # GET list routes: who finds the case among the rows.
    lists_case_for: tuple[str, ...] = ()
    # What success did, checked after an allowed write: (case, role) -> None.
    effect: Callable[[Case, str], None] | None = None
    # Tells apart two entries for one route (another stage or method).
    variant: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}:{self.method}{':' + self.variant if self.variant else ''}"

    @property
    def writes(self) -> bool:
        return self.method == "post"

    def expect(self, role: str, defaults: Mapping[str, int | tuple[int, ...]]) -> tuple[bool, Any]:
        """(allowed?, status or statuses) for ``role``."""
        if role in self.allowed:
            return True, self.allowed[role]
        if role in self.refused:
            return False, self.refused[role]
        return False, defaults[role]


# A stranger finds nothing (404); a signed-out caller is told to sign in (401 or 403:
# session authentication answers 403); any other unlisted role is refused with a 403 or 404.
API_DEFAULTS: dict[str, int | tuple[int, ...]] = {
    "stranger": 404,
    # Never in their queue: not even while unassigned or waiting for a second arbiter.
    "conflicted_arbiter": 404,
    "anonymous": (401, 403),
    **dict.fromkeys(["client", "freelancer", "arbiter", "other_arbiter", "manager"], (403, 404)),
    "superuser": (403, 404),
}
# The parties' own actions: anyone else who can see the case (arbiters, ops) is not a
# party and finds no case to act on as one.
NOT_A_PARTY = dict.fromkeys(["arbiter", "other_arbiter", "manager", "superuser"], 404)
SEES_ESCALATED = ("client", "freelancer", "arbiter", "manager", "superuser")


def resolve_body(case: Case) -> dict[str, Any]:
    return {"freelancer_share_bps": 7_000, "rationale": "Most of the work was delivered."}


def status_is(status: str, **fields: Any) -> Callable[[Case, str], None]:
    """The case's dispute is in ``status`` (with ``fields``; a value naming a role
    stands for that user's id)."""

    def check(case: Case, role: str) -> None:
        dispute = Dispute.objects.filter(milestone=case.milestone).order_by("-pk").first()
        assert dispute is not None
        assert dispute.status == status, (dispute.status, status)
        for name, value in fields.items():
            wanted = case.users[value].pk if value in case.users else value
            assert getattr(dispute, name) == wanted, (name, getattr(dispute, name), wanted)

    return check


def opened_by_role(case: Case, role: str) -> None:
    dispute = Dispute.objects.get(milestone=case.milestone)
    assert dispute.status == Dispute.Status.OPEN
    assert dispute.opened_by_id == case.users[role].pk


def more_evidence(case: Case, role: str) -> None:
    latest = Evidence.objects.filter(dispute_id=case.pk).order_by("-pk").first()
    assert latest is not None
    assert latest.submitted_by_id == case.users[role].pk


def new_offer(case: Case, role: str) -> None:
    latest = SettlementOffer.objects.filter(dispute_id=case.pk).order_by("-pk").first()
    assert latest is not None
    assert latest.proposed_by_id == case.users[role].pk
    assert latest.status == SettlementOffer.Status.OPEN


API_ROUTES: list[Route] = [
    Route(
        "dispute-list",
        "get",
        "escalated",
        allowed=dict.fromkeys([*PARTIES, *STAFF, "stranger"], 200),
        kwargs=lambda case: {},
        # The other arbiter's queue has unassigned and confirming cases only.
        lists_case_for=SEES_ESCALATED,
    ),
    Route(
        "dispute-detail",
        "get",
        "escalated",
        allowed=dict.fromkeys(SEES_ESCALATED, 200),
        refused={"other_arbiter": 404},
    ),
    Route(
        "dispute-detail",
        "get",
        "open",
        # Unassigned: every arbiter without a conflict may look at it (and take it).
        allowed=dict.fromkeys([*PARTIES, "arbiter", "other_arbiter", "manager", "superuser"], 200),
        variant="unassigned",
    ),
    Route(
        "dispute-evidence-file",
        "get",
        "escalated",
        allowed=dict.fromkeys(SEES_ESCALATED, 200),
        refused={"other_arbiter": 404},
        kwargs=lambda case: {"pk": case.pk, "evidence_id": case.evidence_id},
    ),
    Route(
        "dispute-respond",
        "post",
        "open",
        allowed={"freelancer": 200},
        refused={"client": 403, **NOT_A_PARTY},  # the opener: not_respondent
        body=lambda case: {"text": "Both chapters are in."},
        effect=status_is(Dispute.Status.RESPONDED),
    ),
    Route(
        "dispute-evidence",
        "post",
        "open",
        allowed={"client": 201, "freelancer": 201},
        refused=NOT_A_PARTY,
        body=lambda case: {"text": "Another statement."},
        effect=more_evidence,
    ),
    Route(
        "dispute-offers",
        "post",
        "open",
        allowed={"client": 201, "freelancer": 201},
        refused=NOT_A_PARTY,
        body=lambda case: {"freelancer_share_bps": 6_000},
        effect=new_offer,
    ),
    Route(
        "dispute-offer-accept",
        "post",
        "open",
        allowed={"freelancer": 200},
        refused={"client": 403, **NOT_A_PARTY},  # own_offer
        kwargs=lambda case: {"pk": case.offer_id},
        effect=status_is(Dispute.Status.SETTLED, freelancer_share_bps=5_000),
    ),
    Route(
        "dispute-escalate",
        "post",
        "open",
        allowed={"client": 200, "freelancer": 200},
        refused=NOT_A_PARTY,
        effect=status_is(Dispute.Status.ESCALATED, arbiter_id="arbiter"),
    ),
    Route(
        "dispute-withdraw",
        "post",
        "open",
        allowed={"client": 200},
        refused={"freelancer": 403, **NOT_A_PARTY},  # not_opener
        effect=status_is(Dispute.Status.WITHDRAWN),
    ),
    Route(
        "dispute-resolve",
        "post",
        "escalated",
        allowed={"arbiter": 200},
        refused={
            "client": 403,  # party_cannot_resolve
            "freelancer": 403,
            "other_arbiter": 404,  # not in their queue
            "manager": 403,  # not_arbiter
            "superuser": 403,  # not_arbiter (ops, not in the arbiters group)
        },
        body=resolve_body,
        effect=status_is(Dispute.Status.DECIDED, decided_by_id="arbiter"),
    ),
    Route(
        "dispute-confirm",
        "post",
        "confirming",
        allowed={"other_arbiter": 200},
        refused={
            "client": 403,  # party_cannot_resolve
            "freelancer": 403,
            "arbiter": 403,  # own_decision
            "manager": 403,  # not_arbiter
            # Ops superusers hold every permission implicitly; only the arbiter
            # permission granted (the arbiters group) makes someone an arbiter.
            "superuser": 403,  # not_arbiter
        },
        body=lambda case: {"agree": True},
        effect=status_is(Dispute.Status.DECIDED, decided_by_id="arbiter"),
    ),
    Route(
        "dispute-appeal",
        "post",
        "decided",
        allowed={"client": 200, "freelancer": 200},
        refused={
            "arbiter": 404,
            "manager": 404,
            "superuser": 404,
            "other_arbiter": 404,  # a decided case is not in their queue
        },
        body=lambda case: {"reason": "The call log was ignored."},
        # The appeal goes to the arbiter who took no part in the decision.
        effect=status_is(Dispute.Status.ESCALATED, is_appeal=True, arbiter_id="other_arbiter"),
    ),
    Route(
        "dispute-assign",
        "post",
        "escalated",
        allowed={"manager": 200, "superuser": 200},
        refused={
            "client": 403,  # staff_only: they see the case, they may not assign it
            "freelancer": 403,
            "arbiter": 403,  # staff_only
            "other_arbiter": 404,  # not in their queue
        },
        body=lambda case: {"arbiter": case.users["other_arbiter"].pk},
        effect=status_is(Dispute.Status.ESCALATED, arbiter_id="other_arbiter"),
    ),
    Route(
        "milestone-dispute",
        "post",
        "funded",
        allowed={"client": 201, "freelancer": 201},
        refused=dict.fromkeys(STAFF, 404),  # not their contract's milestone
        kwargs=lambda case: {"pk": case.milestone.pk},
        body=lambda case: {"reason": "quality", "description": "Two chapters are missing."},
        effect=opened_by_role,
    ),
]
API_BY_KEY = {route.key: route for route in API_ROUTES}


def route_names(patterns: list[URLPattern | URLResolver]) -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            names |= route_names(entry.url_patterns)
        elif entry.name:
            names.add(entry.name)
    return names


def test_every_dispute_api_route_is_in_the_matrix() -> None:
    """A new dispute endpoint fails here until its roles are written down above."""
    expected = route_names(api_urls.urlpatterns) | {"milestone-dispute"}
    covered = {route.name for route in API_ROUTES}
    assert expected == covered, (
        f"missing: {sorted(expected - covered)}, gone: {sorted(covered - expected)}"
    )


def test_every_role_is_decided_for_every_route() -> None:
    assert len(API_BY_KEY) == len(API_ROUTES)
    for route in API_ROUTES:
        assert set(route.allowed) | set(route.refused) <= set(ROLES), route.key
        assert not set(route.allowed) & set(route.refused), route.key
        for role in ROLES:
            route.expect(role, API_DEFAULTS)  # every role has an answer


def api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def response_bytes(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(API_BY_KEY))
def test_api_route_for_role(key: str, role: str, settings: Any, tmp_media: Any) -> None:
    route = API_BY_KEY[key]
    case = build_case(route.stage, settings)
    url = reverse(route.name, kwargs=route.kwargs(case))
    before = snapshot(case)
    allowed, status = route.expect(role, API_DEFAULTS)
    client = api_client(case.user(role))
    if route.writes:
        response = client.post(url, route.body(case), format="json")
    else:
        response = client.get(url)
    statuses = status if isinstance(status, tuple) else (status,)
    what = f"{route.method.upper()} {url} as {role}"
    content = response_bytes(response)
    assert response.status_code in statuses, f"{what} -> {response.status_code}: {content[:300]!r}"
    if response.status_code >= 400:
        # Every refusal is the API's error shape.
        assert {"code", "detail"} <= set(response.json()), f"{what}: {content[:300]!r}"
    if not allowed or not route.writes:
        assert_unchanged(before, case, what)
    else:
        assert_changed(before, case, what)
        if route.effect is not None:
            route.effect(case, role)
    if route.lists_case_for and allowed:
        rows = [row["id"] for row in response.json()["results"]]
        assert (case.pk in rows) == (role in route.lists_case_for), f"{what}: {rows}"
    if route.name == "dispute-evidence-file" and allowed:
        assert content == EVIDENCE_BYTES
