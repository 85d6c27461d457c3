"""The whole marketplace journey, each step through the door a person uses:
client posts -> freelancer proposes -> client sends an offer -> freelancer accepts
-> (escrow funds) -> freelancer submits -> client asks for a revision -> resubmits."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from marketplace.models import Contract, Job, Milestone, Proposal, Submission
from tests.factories import any_category, fund_for_test, verified_freelancer, verified_user
from tests.marketplace.test_jobs_pages import job_form
from tests.marketplace.test_proposals_pages import plan_form

pytestmark = pytest.mark.django_db
REPORT = b"%PDF-1.7 milestone report"


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_journey_through_the_api():
    client, freelancer = api_for(verified_user()), api_for(worker := verified_freelancer())

    posted = client.post(
        "/api/v1/jobs/",
        {
            "title": "Escrow dashboard",
            "description": "Milestones, balances and payouts.",
            "category": any_category().slug,
            "budget": 250_000,
            "currency": "usd",
            "publish": True,
        },
    )
    assert posted.status_code == 201, posted.json()
    job_id = posted.json()["id"]
    assert freelancer.get("/api/v1/jobs/?q=dashboard").json()["count"] == 1

    proposed = freelancer.post(
        f"/api/v1/jobs/{job_id}/proposals/",
        {
            "cover_letter": "Two milestones.",
            "currency": "usd",
            "milestones": [
                {"title": "API", "amount": 100_000},
                {"title": "Pages", "amount": 150_000},
            ],
            "total": 250_000,
        },
    )
    assert proposed.status_code == 201, proposed.json()
    proposal_id = proposed.json()["id"]

    offered = client.post(f"/api/v1/proposals/{proposal_id}/accept/", {"rail": "card"})
    assert offered.status_code == 201, offered.json()
    contract_id = offered.json()["id"]
    assert freelancer.post(f"/api/v1/contracts/{contract_id}/accept/").status_code == 200
    assert Job.objects.get(pk=job_id).status == Job.Status.AWARDED

    contract = freelancer.get(f"/api/v1/contracts/{contract_id}/").json()
    assert contract["status"] == "active"
    assert [m["amount"] for m in contract["milestones"]] == [100_000, 150_000]
    first = Milestone.objects.get(contract_id=contract_id, position=1)
    fund_for_test(first)  # the escrow issue's entry point: lifecycle.transition_milestone

    submitted = freelancer.post(
        f"/api/v1/milestones/{first.pk}/submit/",
        {"message": "API done.", "files": [SimpleUploadedFile("report.pdf", REPORT)]},
        format="multipart",
    )
    assert submitted.status_code in (200, 201), submitted.json()
    revision = client.post(
        f"/api/v1/milestones/{first.pk}/request-revision/", {"reason": "Add pagination."}
    )
    assert revision.status_code == 200, revision.json()
    resubmitted = freelancer.post(
        f"/api/v1/milestones/{first.pk}/submit/",
        {"message": "Paginated.", "files": [SimpleUploadedFile("report.pdf", REPORT)]},
        format="multipart",
    )
    assert resubmitted.status_code in (200, 201), resubmitted.json()

    first.refresh_from_db()
    assert first.status == Milestone.Status.SUBMITTED
    submissions = client.get(f"/api/v1/milestones/{first.pk}/submissions/").json()
    rows = submissions["results"] if isinstance(submissions, dict) else submissions
    assert [s["number"] for s in rows] == [1, 2] or [s["number"] for s in rows] == [2, 1]
    digests = {f["sha256"] for s in rows for f in s["files"]}
    assert digests == {hashlib.sha256(REPORT).hexdigest()}
    assert worker.pk == Proposal.objects.get(pk=proposal_id).freelancer_id


def test_journey_through_the_pages():
    client_user, worker = verified_user(), verified_freelancer()
    client, freelancer = Client(), Client()
    client.force_login(client_user)
    freelancer.force_login(worker)

    assert client.post(reverse("job_create"), {**job_form(), "publish": "1"}).status_code == 302
    job = Job.objects.get()
    board = freelancer.get(reverse("job_board"), {"q": "shop"})
    assert job.title in board.content.decode()

    sent = freelancer.post(
        reverse("proposal_create", args=[job.pk]),
        plan_form([("Catalogue", "1000.00"), ("Checkout", "1500.00")]),
    )
    assert sent.status_code == 302
    proposal = Proposal.objects.get()
    assert proposal.total == 250_000

    review = client.get(reverse("proposal_detail", args=[proposal.pk]))
    assert reverse("proposal_offer", args=[proposal.pk]) in review.content.decode()
    client.post(reverse("proposal_offer", args=[proposal.pk]))
    contract = Contract.objects.get()
    offer = freelancer.get(reverse("offer_detail", args=[contract.pk]))
    assert "$2,500.00" in offer.content.decode()
    freelancer.post(reverse("offer_accept", args=[contract.pk]))
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE

    first = fund_for_test(contract.milestones.get(position=1))
    freelancer.post(
        reverse("milestone_submit", args=[first.pk]),
        {"message": "Catalogue done.", "files": [SimpleUploadedFile("report.pdf", REPORT)]},
    )
    client.post(reverse("milestone_request_revision", args=[first.pk]), {"reason": "Add search."})
    freelancer.post(
        reverse("milestone_submit", args=[first.pk]),
        {"message": "Search added.", "files": [SimpleUploadedFile("report.pdf", REPORT)]},
    )

    first.refresh_from_db()
    assert first.status == Milestone.Status.SUBMITTED
    assert list(Submission.objects.filter(milestone=first).values_list("number", flat=True)) == [
        1,
        2,
    ]
    workroom = client.get(reverse("contract_workroom", args=[contract.pk])).content.decode()
    assert "Search added." in workroom
    assert hashlib.sha256(REPORT).hexdigest() in workroom
    assert "Add search." in workroom
