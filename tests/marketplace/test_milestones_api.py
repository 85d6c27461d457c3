"""Milestones API: plan edits, submit with files, revisions, submissions — and refusals."""

from __future__ import annotations

import os

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from marketplace.models import Milestone, RevisionRequest, Submission
from marketplace.services.milestones import MAX_FILE_BYTES
from tests.factories import fund_for_test, make_contract, make_proposal, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def stored_files() -> list[str]:
    root = default_storage.location  # type: ignore[attr-defined]
    return [name for _, _, names in os.walk(root) for name in names]


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def contract():
    return make_contract(make_proposal(amounts=(100_000, 150_000)))


def test_client_edits_and_removes_draft_milestones(contract):
    api = as_user(contract.client)
    first, second = contract.milestones.all()
    patched = api.patch(f"/api/v1/milestones/{second.pk}/", {"amount": 175_000, "title": "B"})
    assert patched.status_code == 200
    assert patched.json()["amount_display"] == "$1,750.00"
    assert api.delete(f"/api/v1/milestones/{first.pk}/").status_code == 204
    second.refresh_from_db()
    assert second.position == 1
    assert int(second.amount) == 175_000


def test_plan_refusals(contract):
    first, _second = contract.milestones.all()
    client_api, worker_api = as_user(contract.client), as_user(contract.freelancer)
    zero = client_api.post(
        f"/api/v1/contracts/{contract.pk}/milestones/", {"title": "X", "amount": 0}
    )
    assert zero.status_code == 400
    assert zero.json()["code"] == "invalid"
    by_freelancer = worker_api.patch(f"/api/v1/milestones/{first.pk}/", {"amount": 1})
    assert by_freelancer.status_code == 403
    assert by_freelancer.json()["code"] == "permission_denied"
    assert as_user(make_user()).delete(f"/api/v1/milestones/{first.pk}/").status_code == 404
    assert (
        as_user(make_user()).get(f"/api/v1/contracts/{contract.pk}/milestones/").status_code == 404
    )
    fund_for_test(first)
    funded = client_api.patch(f"/api/v1/milestones/{first.pk}/", {"amount": 1})
    assert funded.status_code == 409
    assert funded.json()["code"] == "milestone_not_draft"
    first.refresh_from_db()
    assert int(first.amount) == 100_000
    assert contract.milestones.count() == 2


def test_submit_refusals_write_nothing(contract):
    milestone = fund_for_test(contract.milestones.get(position=1))
    url = f"/api/v1/milestones/{milestone.pk}/submit/"
    worker = as_user(contract.freelancer)
    client_side = as_user(contract.client).post(url, {"message": "x"}, format="multipart")
    assert client_side.status_code == 403
    outsider = as_user(make_user()).post(url, {"message": "x"}, format="multipart")
    assert outsider.status_code == 404
    cases = [
        ([SimpleUploadedFile("x.exe", b"MZ")], "file_type_not_allowed"),
        ([SimpleUploadedFile(f"{i}.txt", b"a") for i in range(11)], "too_many_files"),
        ([SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * MAX_FILE_BYTES)], "file_too_large"),
    ]
    for files, code in cases:
        response = worker.post(url, {"message": "x", "files": files}, format="multipart")
        assert response.status_code == 400, code
        assert response.json()["code"] == code
    no_message = worker.post(
        url, {"files": [SimpleUploadedFile("a.txt", b"a")]}, format="multipart"
    )
    assert no_message.status_code == 400
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    assert not Submission.objects.exists()
    assert stored_files() == []


def test_revision_refusals(contract):
    milestone = fund_for_test(contract.milestones.get(position=1))
    as_user(contract.freelancer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/", {"message": "v1"}, format="multipart"
    )
    url = f"/api/v1/milestones/{milestone.pk}/request-revision/"
    assert as_user(contract.client).post(url, {"reason": ""}).status_code == 400
    by_freelancer = as_user(contract.freelancer).post(url, {"reason": "x"})
    assert by_freelancer.status_code == 403
    assert as_user(make_user()).post(url, {"reason": "x"}).status_code == 404
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.SUBMITTED
    assert not RevisionRequest.objects.exists()


def test_submissions_are_for_parties_only(contract):
    milestone = fund_for_test(contract.milestones.get(position=1))
    as_user(contract.freelancer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/",
        {"message": "v1", "files": [SimpleUploadedFile("a.csv", b"a,b\n")]},
        format="multipart",
    )
    url = f"/api/v1/milestones/{milestone.pk}/submissions/"
    assert as_user(make_user()).get(url).status_code == 404
    results = as_user(contract.client).get(url).json()["results"]
    assert results[0]["files"][0]["name"] == "a.csv"
    assert results[0]["files"][0]["download_url"].endswith(
        f"/contracts/files/{results[0]['files'][0]['id']}/"
    )
