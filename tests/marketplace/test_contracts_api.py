"""Contracts API: offers, contract lists and details, the whole journey."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from marketplace.models import Contract, Job, Milestone, Proposal, Submission
from tests.factories import (
    fund_for_test,
    make_contract,
    make_job,
    make_proposal,
    make_user,
    verified_user,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\nhello"


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def freelancer():
    return verified_user(is_client=False, is_freelancer=True)


def test_accepting_a_proposal_sends_an_offer():
    client = verified_user()
    proposal = make_proposal(make_job(client), freelancer())
    response = as_user(client).post(f"/api/v1/proposals/{proposal.pk}/accept/", {}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "offered"
    assert body["status_display"] == "Offer waiting for the freelancer"
    assert (body["currency"], body["rail"], body["fee_bps"]) == ("usd", "card", 1000)
    assert body["total"] == 250_000
    assert body["total_display"] == "$2,500.00"
    assert [m["amount_display"] for m in body["milestones"]] == ["$1,000.00", "$1,500.00"]
    assert body["freelancer"]["id"] == proposal.freelancer_id


def test_offer_errors_have_codes_and_write_nothing():
    client = verified_user()
    job = make_job(client)
    proposal = make_proposal(job, freelancer())
    api = as_user(client)
    wrong_rail = api.post(f"/api/v1/proposals/{proposal.pk}/accept/", {"rail": "chain"})
    assert wrong_rail.status_code == 400
    assert wrong_rail.json()["code"] == "rail_currency_mismatch"
    bad_rail = api.post(f"/api/v1/proposals/{proposal.pk}/accept/", {"rail": "paypal"})
    assert bad_rail.status_code == 400
    assert bad_rail.json()["code"] == "invalid"
    stranger = as_user(verified_user()).post(f"/api/v1/proposals/{proposal.pk}/accept/")
    assert stranger.status_code == 404
    unverified = make_user()
    other_job_proposal = make_proposal(make_job(unverified), freelancer())
    refused = as_user(unverified).post(f"/api/v1/proposals/{other_job_proposal.pk}/accept/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "email_unverified"
    assert not Contract.objects.exists()
    Proposal.objects.filter(pk=proposal.pk).update(status=Proposal.Status.DECLINED)
    decided = api.post(f"/api/v1/proposals/{proposal.pk}/accept/")
    assert decided.status_code == 409
    assert decided.json()["code"] == "proposal_decided"
    assert not Contract.objects.exists()


def test_replayed_offer_is_409():
    client = verified_user()
    proposal = make_proposal(make_job(client), freelancer())
    api = as_user(client)
    assert api.post(f"/api/v1/proposals/{proposal.pk}/accept/").status_code == 201
    again = api.post(f"/api/v1/proposals/{proposal.pk}/accept/")
    assert again.status_code == 409
    assert again.json()["code"] == "proposal_decided"
    assert Contract.objects.count() == 1
    assert Milestone.objects.count() == 2


def test_offer_actions_by_role():
    contract = make_contract(status=Contract.Status.OFFERED)
    Proposal.objects.filter(pk=contract.proposal_id).update(status=Proposal.Status.ACCEPTED)
    client_api = as_user(contract.client)
    for user in (contract.client, contract.freelancer):
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    refused = client_api.post(f"/api/v1/contracts/{contract.pk}/accept/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    outsider = as_user(verified_user()).post(f"/api/v1/contracts/{contract.pk}/decline/")
    assert outsider.status_code == 404
    contract.refresh_from_db()
    assert contract.status == Contract.Status.OFFERED
    accepted = as_user(contract.freelancer).post(f"/api/v1/contracts/{contract.pk}/accept/")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "active"
    late = client_api.post(f"/api/v1/contracts/{contract.pk}/withdraw/")
    assert late.status_code == 409
    assert late.json()["code"] == "offer_not_pending"
    assert Job.objects.get(pk=contract.job_id).status == Job.Status.AWARDED


def test_decline_and_withdraw_through_the_api():
    declined = make_contract(status=Contract.Status.OFFERED)
    response = as_user(declined.freelancer).post(f"/api/v1/contracts/{declined.pk}/decline/")
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    withdrawn = make_contract(status=Contract.Status.OFFERED)
    response = as_user(withdrawn.client).post(f"/api/v1/contracts/{withdrawn.pk}/withdraw/")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"


def test_list_shows_only_my_contracts_with_filters():
    me = make_user(is_freelancer=True)
    mine_as_client = make_contract(make_proposal(make_job(me)))
    mine_as_freelancer = make_contract(make_proposal(freelancer=me), status=Contract.Status.OFFERED)
    make_contract()  # someone else's
    api = as_user(me)
    ids = {c["id"] for c in api.get("/api/v1/contracts/").json()["results"]}
    assert ids == {mine_as_client.pk, mine_as_freelancer.pk}
    as_client = api.get("/api/v1/contracts/?role=client").json()["results"]
    assert [c["id"] for c in as_client] == [mine_as_client.pk]
    offered = api.get("/api/v1/contracts/?status=offered").json()["results"]
    assert [c["id"] for c in offered] == [mine_as_freelancer.pk]
    assert api.get("/api/v1/contracts/?status=nope").status_code == 400
    assert api.get("/api/v1/contracts/?role=boss").status_code == 400


def test_detail_is_404_for_outsiders():
    contract = make_contract()
    assert as_user(make_user()).get(f"/api/v1/contracts/{contract.pk}/").status_code == 404
    body = as_user(contract.freelancer).get(f"/api/v1/contracts/{contract.pk}/").json()
    assert body["id"] == contract.pk
    assert body["milestones"][0]["status_display"] == "Not funded yet"
    assert APIClient().get(f"/api/v1/contracts/{contract.pk}/").status_code == 401


@pytest.mark.parametrize("count", [3, 20])
def test_contract_list_runs_a_constant_number_of_queries(count, django_assert_num_queries):
    me = make_user()
    for _ in range(count):
        make_contract(make_proposal(make_job(me), amounts=(1_000, 2_000, 3_000)))
    api = as_user(me)
    # session-less auth: count, page, milestones prefetch
    with django_assert_num_queries(3):
        response = api.get("/api/v1/contracts/?page_size=100")
    assert len(response.json()["results"]) == count


def test_full_journey_through_the_api():
    client, worker = verified_user(), freelancer()
    job = make_job(client)
    proposal = make_proposal(job, worker)
    client_api, worker_api = as_user(client), as_user(worker)

    offer = client_api.post(f"/api/v1/proposals/{proposal.pk}/accept/", {"rail": "card"})
    assert offer.status_code == 201
    contract_id = offer.json()["id"]
    assert worker_api.get("/api/v1/contracts/?role=freelancer").json()["count"] == 1
    assert worker_api.post(f"/api/v1/contracts/{contract_id}/accept/").status_code == 200

    added = client_api.post(
        f"/api/v1/contracts/{contract_id}/milestones/", {"title": "Extras", "amount": 5_000}
    )
    assert added.status_code == 201
    assert added.json()["position"] == 3
    milestones = worker_api.get(f"/api/v1/contracts/{contract_id}/milestones/").json()
    assert [m["position"] for m in milestones["results"]] == [1, 2, 3]
    first_id = milestones["results"][0]["id"]

    early = worker_api.post(f"/api/v1/milestones/{first_id}/submit/", {"message": "Too soon"})
    assert early.status_code == 409
    assert early.json()["code"] == "invalid_transition"

    fund_for_test(Milestone.objects.get(pk=first_id))
    submitted = worker_api.post(
        f"/api/v1/milestones/{first_id}/submit/",
        {
            "message": "Draft one",
            "files": [
                SimpleUploadedFile("draft.pdf", PDF),
                SimpleUploadedFile("notes.txt", b"notes"),
            ],
        },
        format="multipart",
    )
    assert submitted.status_code == 201, submitted.json()
    files = submitted.json()["files"]
    assert {f["name"] for f in files} == {"draft.pdf", "notes.txt"}
    pdf = next(f for f in files if f["name"] == "draft.pdf")
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert pdf["size"] == len(PDF)

    revision = client_api.post(
        f"/api/v1/milestones/{first_id}/request-revision/", {"reason": "Add the totals."}
    )
    assert revision.status_code == 200
    assert revision.json()["status"] == "funded"
    again = worker_api.post(
        f"/api/v1/milestones/{first_id}/submit/", {"message": "Draft two"}, format="multipart"
    )
    assert again.status_code == 201
    assert again.json()["number"] == 2

    history = client_api.get(f"/api/v1/milestones/{first_id}/submissions/").json()["results"]
    assert [s["number"] for s in history] == [1, 2]
    client_api.force_login(client)  # downloads are a page: session login
    download = client_api.get(pdf["download_url"])
    assert download.status_code == 200
    assert download.getvalue() == PDF
    assert Submission.objects.filter(milestone_id=first_id).count() == 2
