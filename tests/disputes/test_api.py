"""The disputes API through DRF's client: each endpoint and role, money after a decision."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from disputes.models import Dispute
from escrow.models import Refund
from marketplace.models import Contract, Milestone, User
from tests.disputes.helpers import funded_milestone, lapse_appeal_window, make_arbiter, money
from tests.escrow.money import submit
from tests.factories import verified_user

pytestmark = pytest.mark.django_db


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def open_via_api(contract: Contract, milestone: Milestone, **extra: Any) -> dict[str, Any]:
    body = {"reason": "quality", "description": "Two chapters are missing.", **extra}
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/dispute/", body, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def url(dispute_id: int, action: str = "") -> str:
    return f"/api/v1/disputes/{dispute_id}/{action + '/' if action else ''}"


def error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert {"code", "detail"} <= set(body), body
    return response.status_code, body["code"]


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_a_card_milestone_dispute_opens_the_case_and_each_role_sees_it_or_not() -> None:
    contract, milestone = funded_milestone()
    submit(milestone)
    before = money(contract, milestone)
    data = open_via_api(contract, milestone, amount=40_000)
    assert data["status"] == "open"
    assert data["amount_in_dispute"] == 40_000
    assert data["currency"] == "usd"
    assert data["opened_by"] == contract.client_id
    assert [event["kind"] for event in data["events"]] == ["opened"]
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DISPUTED
    assert money(contract, milestone) == before  # locked, not moved

    dispute_id = data["id"]
    for party in (contract.client, contract.freelancer, make_arbiter()):
        assert ids(api_for(party).get("/api/v1/disputes/")) == [dispute_id]
        assert api_for(party).get(url(dispute_id)).status_code == 200
    assert ids(api_for(contract.client).get("/api/v1/disputes/?status=open")) == [dispute_id]
    assert ids(api_for(contract.client).get("/api/v1/disputes/?status=resolved")) == []
    stranger = api_for(verified_user())
    assert ids(stranger.get("/api/v1/disputes/")) == []
    assert stranger.get(url(dispute_id)).status_code == 404
    assert api_for(contract.client).get(url(999_999)).status_code == 404


def test_respond_evidence_offer_and_accept_settle_the_split(tmp_media: Any) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_via_api(contract, milestone)["id"]
    client, freelancer = api_for(contract.client), api_for(contract.freelancer)

    response = freelancer.post(url(dispute_id, "respond"), {"text": "It is all there."})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "responded"

    content = b"The brief we agreed on."
    response = freelancer.post(
        url(dispute_id, "evidence"),
        {"text": "See the brief.", "files": [SimpleUploadedFile("brief.txt", content)]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    statement, upload = response.json()
    assert statement["text"] == "See the brief."
    assert statement["download_url"] is None
    assert upload["sha256"] == hashlib.sha256(content).hexdigest()
    assert upload["size"] == len(content)
    download = client.get(upload["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content  # type: ignore[attr-defined]
    assert api_for(verified_user()).get(upload["download_url"]).status_code == 404

    offer = client.post(url(dispute_id, "offers"), {"freelancer_share_bps": 6_000}, format="json")
    assert offer.status_code == 201, offer.json()
    assert offer.json()["status"] == "open"
    offer_id = offer.json()["id"]
    assert error(client.post(f"/api/v1/dispute-offers/{offer_id}/accept/")) == (403, "own_offer")

    before = money(contract, milestone)
    accepted = freelancer.post(f"/api/v1/dispute-offers/{offer_id}/accept/")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "accepted"
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["client"] - before["client"] == 40_000
    paid = (after["freelancer_pending"] - before["freelancer_pending"]) + (
        after["fees"] - before["fees"]
    )
    assert paid == 60_000
    assert after["fees"] > before["fees"]

    detail = client.get(url(dispute_id)).json()
    assert detail["status"] == "settled"
    assert detail["freelancer_share_bps"] == 6_000
    assert [event["kind"] for event in detail["events"]] == [
        "opened",
        "responded",
        "evidence",
        "offer",
        "offer_accepted",
        "settled",
    ]
    assert len(detail["evidence"]) == 2
    assert [row["status"] for row in detail["offers"]] == ["accepted"]
    assert ids(client.get("/api/v1/disputes/?status=settled")) == [dispute_id]


def test_an_arbiter_resolves_an_escalated_dispute_and_the_money_moves() -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_via_api(contract, milestone)["id"]
    escalated = api_for(contract.freelancer).post(url(dispute_id, "escalate"), {}, format="json")
    assert escalated.status_code == 200, escalated.json()
    assert escalated.json()["status"] == "escalated"

    body = {"freelancer_share_bps": 7_000, "rationale": "Most of the work was delivered."}
    for party in (contract.client, contract.freelancer):
        refused = api_for(party).post(url(dispute_id, "resolve"), body, format="json")
        assert error(refused) == (403, "party_cannot_resolve")
    staff = verified_user(is_staff=True)
    assert error(api_for(staff).post(url(dispute_id, "resolve"), body, format="json")) == (
        403,
        "not_arbiter",
    )
    stranger = api_for(verified_user())
    assert stranger.post(url(dispute_id, "resolve"), body, format="json").status_code == 404

    before = money(contract, milestone)
    arbiter = api_for(make_arbiter())
    resolved = arbiter.post(
        url(dispute_id, "resolve"), body, format="json", HTTP_IDEMPOTENCY_KEY="resolve-1"
    )
    assert resolved.status_code == 200, resolved.json()
    data = resolved.json()
    assert data["status"] == "decided"
    assert data["status_label"] == "Decided — open to appeal"
    assert data["freelancer_share_bps"] == 7_000
    assert data["rationale"] == "Most of the work was delivered."
    assert data["events"][-1]["kind"] == "decided"
    assert data["appeal_due_at"] is not None
    assert data["decided_by"] == data["arbiter"]
    assert money(contract, milestone) == before  # open to appeal: nothing moved
    assert lapse_appeal_window(Dispute.objects.get(pk=dispute_id)) == 1
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["client"] - before["client"] == 30_000
    gross = (after["freelancer_pending"] - before["freelancer_pending"]) + (
        after["fees"] - before["fees"]
    )
    assert gross == 70_000
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RESOLVED

    replay = arbiter.post(
        url(dispute_id, "resolve"), body, format="json", HTTP_IDEMPOTENCY_KEY="resolve-1"
    )
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert money(contract, milestone) == after
    assert api_for(contract.client).get(url(dispute_id)).json()["status"] == "resolved"
    again = arbiter.post(url(dispute_id, "resolve"), body, format="json")
    assert error(again) == (409, "dispute_closed")
    closed = api_for(contract.client).post(url(dispute_id, "evidence"), {"text": "Late."})
    assert error(closed) == (409, "dispute_closed")


def test_an_arbiter_may_award_everything_to_the_client() -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_via_api(contract, milestone)["id"]
    before = money(contract, milestone)
    body = {"freelancer_share_bps": 0, "rationale": "Nothing was delivered."}
    resolved = api_for(make_arbiter()).post(url(dispute_id, "resolve"), body, format="json")
    assert resolved.status_code == 200, resolved.json()
    assert money(contract, milestone) == before
    assert lapse_appeal_window(Dispute.objects.get(pk=dispute_id)) == 1
    after = money(contract, milestone)
    # Paid by card, so refunded to the card (not parked on the client's balance).
    refund = Refund.objects.get(milestone=milestone)
    assert (refund.destination, refund.amount) == (Refund.Destination.CARD, 100_000)
    assert after["client"] == before["client"]
    assert after["freelancer_pending"] == before["freelancer_pending"]
    assert after["escrow"] == 0
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RESOLVED


@pytest.mark.parametrize(
    ("action", "body", "expected"),
    [
        ("respond", {}, 400),
        ("respond", {"text": "   "}, 400),
        ("offers", {"freelancer_share_bps": 10_001}, 400),
        ("offers", {"freelancer_share_bps": "half"}, 400),
        ("offers", {}, 400),
        ("evidence", {}, 400),
        ("resolve", {"freelancer_share_bps": 5_000}, 400),
        ("resolve", {"freelancer_share_bps": -1, "rationale": "x"}, 400),
    ],
)
def test_bad_input_is_a_400_with_code_and_detail(
    action: str, body: dict[str, Any], expected: int
) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_via_api(contract, milestone)["id"]
    actor = make_arbiter() if action == "resolve" else contract.freelancer
    if action == "respond":
        actor = contract.freelancer
    response = api_for(actor).post(url(dispute_id, action), body, format="json")
    status_code, _code = error(response)
    assert status_code == expected


def test_opening_refusals_through_the_milestone_endpoint() -> None:
    contract, milestone = funded_milestone()
    client = api_for(contract.client)
    dispute_url = f"/api/v1/milestones/{milestone.pk}/dispute/"
    assert error(client.post(dispute_url, {}, format="json"))[0] == 400
    bad_reason = {"reason": "bored", "description": "x"}
    assert error(client.post(dispute_url, bad_reason, format="json"))[0] == 400
    too_much = {"reason": "quality", "description": "x", "amount": 100_001}
    assert error(client.post(dispute_url, too_much, format="json")) == (400, "invalid_amount")
    open_via_api(contract, milestone)
    again = {"reason": "quality", "description": "Again."}
    freelancer = api_for(contract.freelancer)
    assert error(freelancer.post(dispute_url, again, format="json")) == (409, "dispute_open")
    stranger = api_for(verified_user())
    assert stranger.post(dispute_url, again, format="json").status_code == 404
    assert Dispute.objects.filter(milestone=milestone).count() == 1


def test_party_refusals_carry_the_services_codes() -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_via_api(contract, milestone)["id"]
    client, freelancer = api_for(contract.client), api_for(contract.freelancer)
    own = client.post(url(dispute_id, "respond"), {"text": "Me too."}, format="json")
    assert error(own) == (403, "not_respondent")
    assert freelancer.post(url(dispute_id, "respond"), {"text": "No."}).status_code == 200
    twice = freelancer.post(url(dispute_id, "respond"), {"text": "Again."}, format="json")
    assert error(twice) == (409, "invalid_transition")
    # An arbiter sees the case but is no party: its party actions are a 404.
    arbiter = api_for(make_arbiter())
    offer = {"freelancer_share_bps": 5_000}
    assert arbiter.post(url(dispute_id, "offers"), offer, format="json").status_code == 404
    first = client.post(url(dispute_id, "offers"), offer, format="json").json()
    counter = freelancer.post(url(dispute_id, "offers"), {"freelancer_share_bps": 8_000})
    assert counter.status_code == 201
    stale = freelancer.post(f"/api/v1/dispute-offers/{first['id']}/accept/")
    assert error(stale) == (409, "invalid_transition")
    assert (
        api_for(verified_user()).post(f"/api/v1/dispute-offers/{first['id']}/accept/").status_code
        == 404
    )
    assert client.post("/api/v1/dispute-offers/999999/accept/").status_code == 404


def test_reads_need_a_login_and_posts_a_verified_email() -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_via_api(contract, milestone)["id"]
    assert APIClient().get("/api/v1/disputes/").status_code in (401, 403)
    assert APIClient().get(url(dispute_id)).status_code in (401, 403)
    unverified = User.objects.get(pk=contract.freelancer_id)
    EmailAddress.objects.filter(user=unverified).update(verified=False)
    response = api_for(unverified).post(url(dispute_id, "respond"), {"text": "x"})
    assert error(response) == (403, "email_unverified")
