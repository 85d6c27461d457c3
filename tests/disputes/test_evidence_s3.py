"""Evidence and submission files on a real S3 API: moto's server, reached over HTTP by
django-storages' ``S3Storage`` (fixtures in tests/s3.py). The objects are read back with
boto3, not through Django, and compared byte for byte and by SHA-256 with what the API
shows."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from disputes.models import Dispute, Evidence
from marketplace.models import Contract, Milestone, SubmissionFile, User
from tests.disputes.helpers import funded_milestone, make_arbiter
from tests.factories import verified_user
from tests.s3 import S3Media

pytestmark = pytest.mark.django_db

# A PNG's signature followed by every byte value: binary content must survive unchanged.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
TEXT = "The brief we agreed on: two chapters, 40 pages. — signed\n".encode()


def api_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def local_media(settings: Any, tmp_path: Path) -> Path:
    """The file-system media folder, to show nothing lands there while S3 is on."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def open_dispute(contract: Contract, milestone: Milestone) -> int:
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/dispute/",
        {"reason": "quality", "description": "Two chapters are missing."},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def downloaded(response: Any) -> bytes:
    """The bytes behind a download answer: streamed by the app, or at the URL it redirects to."""
    if response.status_code in (301, 302, 303, 307):
        with urllib.request.urlopen(response["Location"], timeout=10) as remote:  # noqa: S310
            return bytes(remote.read())
    assert response.status_code == 200, response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return bytes(body)


def upload_evidence(user: User, dispute_id: int, **files: bytes) -> list[dict[str, Any]]:
    response = api_for(user).post(
        f"/api/v1/disputes/{dispute_id}/evidence/",
        {
            "text": "See the attached files.",
            "files": [SimpleUploadedFile(name, content) for name, content in files.items()],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return list(response.json())


def test_evidence_files_uploaded_through_the_api_are_objects_in_the_s3_bucket(
    s3_storage: S3Media, local_media: Path
) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_dispute(contract, milestone)

    rows = upload_evidence(contract.freelancer, dispute_id, **{"brief.png": PNG, "brief.txt": TEXT})
    statement, *uploads = rows
    assert statement["download_url"] is None
    assert [row["name"] for row in uploads] == ["brief.png", "brief.txt"]

    stored = {row.pk: row for row in Evidence.objects.filter(dispute_id=dispute_id)}
    expected_keys = []
    for shown, content in zip(uploads, (PNG, TEXT), strict=True):
        row = stored[shown["id"]]
        key = s3_storage.key(row.file.name)
        expected_keys.append(key)
        assert row.file.name.startswith("evidence/"), row.file.name
        # The object, fetched from the bucket with boto3, is the upload byte for byte.
        assert s3_storage.read(row.file.name) == content
        assert s3_storage.sha256(row.file.name) == hashlib.sha256(content).hexdigest()
        assert shown["sha256"] == row.sha256 == hashlib.sha256(content).hexdigest()
        assert shown["size"] == row.size == len(content)
        head = s3_storage.server.client().head_object(Bucket=s3_storage.bucket, Key=key)
        assert head["ContentLength"] == len(content)
        assert head["ContentType"] == shown["content_type"]
    assert s3_storage.object_keys() == sorted(expected_keys)
    assert files_under(local_media) == []  # nothing went to the file system

    # The same digest is what the case shows both parties.
    detail = api_for(contract.client).get(f"/api/v1/disputes/{dispute_id}/").json()
    digests = {row["id"]: row["sha256"] for row in detail["evidence"]}
    assert {row["id"]: digests[row["id"]] for row in uploads} == {
        row["id"]: row["sha256"] for row in uploads
    }


def test_the_download_endpoint_serves_the_s3_object_to_parties_and_arbiters_only(
    s3_storage: S3Media,
) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_dispute(contract, milestone)
    (_, upload) = upload_evidence(contract.client, dispute_id, **{"proof.png": PNG})
    url = upload["download_url"]

    for reader in (contract.client, contract.freelancer, make_arbiter()):
        response = api_for(reader).get(url)
        content = downloaded(response)
        assert content == PNG
        assert hashlib.sha256(content).hexdigest() == upload["sha256"]
        if response.status_code == 200:
            assert "attachment" in response["Content-Disposition"]
            assert "proof.png" in response["Content-Disposition"]
            assert response["Cache-Control"] == "private, no-store"
            assert response["X-Content-Type-Options"] == "nosniff"

    assert api_for(verified_user()).get(url).status_code == 404
    assert api_for(None).get(url).status_code in (401, 403)
    # Another case's id with this file's id is not a way in either.
    other_contract, other_milestone = funded_milestone()
    other_id = open_dispute(other_contract, other_milestone)
    wrong_case = url.replace(f"/disputes/{dispute_id}/", f"/disputes/{other_id}/")
    assert api_for(other_contract.client).get(wrong_case).status_code == 404


def test_an_evidence_object_missing_from_the_bucket_is_a_404_not_a_crash(
    s3_storage: S3Media,
) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_dispute(contract, milestone)
    (_, upload) = upload_evidence(contract.client, dispute_id, **{"gone.txt": TEXT})
    row = Evidence.objects.get(pk=upload["id"])
    s3_storage.delete(row.file.name)
    assert s3_storage.object_keys() == []

    response = api_for(contract.freelancer).get(upload["download_url"])
    assert response.status_code == 404


def test_refused_evidence_writes_no_object(s3_storage: S3Media) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_dispute(contract, milestone)
    party = api_for(contract.freelancer)
    events = Dispute.objects.get(pk=dispute_id).events.count()

    # One good file and one of a refused type: every file is checked before any is written.
    response = party.post(
        f"/api/v1/disputes/{dispute_id}/evidence/",
        {
            "files": [
                SimpleUploadedFile("ok.txt", TEXT),
                SimpleUploadedFile("tool.exe", b"MZ\x90\x00"),
            ]
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "file_type_not_allowed"
    # A PNG name on bytes that are not a PNG.
    response = party.post(
        f"/api/v1/disputes/{dispute_id}/evidence/",
        {"files": [SimpleUploadedFile("fake.png", b"GIF89a not a png")]},
        format="multipart",
    )
    assert response.status_code == 400
    # A stranger never reaches storage.
    response = api_for(verified_user()).post(
        f"/api/v1/disputes/{dispute_id}/evidence/",
        {"files": [SimpleUploadedFile("ok.txt", TEXT)]},
        format="multipart",
    )
    assert response.status_code == 404

    assert s3_storage.object_keys() == []
    assert not Evidence.objects.filter(dispute_id=dispute_id).exists()
    assert Dispute.objects.get(pk=dispute_id).events.count() == events


def test_evidence_after_the_case_closed_writes_no_object(s3_storage: S3Media) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_dispute(contract, milestone)
    offer = api_for(contract.client).post(
        f"/api/v1/disputes/{dispute_id}/offers/", {"freelancer_share_bps": 5_000}, format="json"
    )
    assert offer.status_code == 201, offer.json()
    accepted = api_for(contract.freelancer).post(
        f"/api/v1/dispute-offers/{offer.json()['id']}/accept/"
    )
    assert accepted.status_code == 200, accepted.json()
    evidence = Evidence.objects.filter(dispute_id=dispute_id).count()

    response = api_for(contract.client).post(
        f"/api/v1/disputes/{dispute_id}/evidence/",
        {"files": [SimpleUploadedFile("late.txt", TEXT)]},
        format="multipart",
    )
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "dispute_closed"
    assert s3_storage.object_keys() == []
    assert Evidence.objects.filter(dispute_id=dispute_id).count() == evidence


def test_a_submission_file_lands_in_the_s3_bucket_and_downloads_for_the_parties(
    s3_storage: S3Media, local_media: Path
) -> None:
    contract, milestone = funded_milestone()
    response = api_for(contract.freelancer).post(
        f"/api/v1/milestones/{milestone.pk}/submit/",
        {"message": "Both chapters.", "files": [SimpleUploadedFile("chapters.png", PNG)]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    (shown,) = response.json()["files"]
    row = SubmissionFile.objects.get(pk=shown["id"])
    assert row.file.name.startswith("deliverables/"), row.file.name
    assert s3_storage.object_keys() == [s3_storage.key(row.file.name)]
    assert s3_storage.read(row.file.name) == PNG
    assert s3_storage.sha256(row.file.name) == shown["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert files_under(local_media) == []

    for party in (contract.client, contract.freelancer):
        browser = APIClient()
        browser.force_login(party)
        assert downloaded(browser.get(shown["download_url"])) == PNG
    stranger = APIClient()
    stranger.force_login(verified_user())
    assert stranger.get(shown["download_url"]).status_code == 404


def test_the_storage_goes_back_to_the_file_system_after_an_s3_test(tmp_media: Path) -> None:
    """The override is undone with the test: default_storage is rebuilt from STORAGES."""
    from django.core.files.storage import FileSystemStorage, default_storage

    assert isinstance(default_storage, FileSystemStorage)
    name = default_storage.save("probe/after-s3.txt", SimpleUploadedFile("x.txt", b"local"))
    assert (Path(tmp_media) / name).read_bytes() == b"local"


def test_evidence_added_on_the_case_page_lands_in_s3_and_the_page_shows_its_digest(
    s3_storage: S3Media, local_media: Path
) -> None:
    contract, milestone = funded_milestone()
    dispute_id = open_dispute(contract, milestone)
    browser = Client()
    browser.force_login(contract.freelancer)
    response = browser.post(
        f"/disputes/{dispute_id}/evidence/",
        {"text": "The delivery log.", "files": [SimpleUploadedFile("log.png", PNG)]},
    )
    assert response.status_code == 302, response.content[:500]
    row = Evidence.objects.filter(dispute_id=dispute_id).exclude(file="").get()
    digest = hashlib.sha256(PNG).hexdigest()
    assert row.sha256 == digest
    assert s3_storage.object_keys() == [s3_storage.key(row.file.name)]
    assert s3_storage.read(row.file.name) == PNG
    assert s3_storage.sha256(row.file.name) == digest
    assert files_under(local_media) == []

    page = browser.get(f"/disputes/{dispute_id}/")
    assert page.status_code == 200
    assert digest in page.content.decode()
    download_url = f"/disputes/{dispute_id}/evidence/{row.pk}/"
    for party in (contract.client, contract.freelancer):
        reader = Client()
        reader.force_login(party)
        assert downloaded(reader.get(download_url)) == PNG
    stranger = Client()
    stranger.force_login(verified_user())
    assert stranger.get(download_url).status_code == 404
    anonymous = Client().get(download_url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
