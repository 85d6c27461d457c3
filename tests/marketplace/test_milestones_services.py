"""Milestones: editing the unfunded plan, submitting work with files, revisions."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from marketplace.models import (
    Contract,
    ContractActivity,
    Milestone,
    MilestoneEvent,
    Profile,
    RevisionRequest,
    Submission,
    SubmissionFile,
)
from marketplace.services import milestones as services
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed, NotFoundError
from tests.factories import fund_for_test, make_contract, make_proposal, make_user

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n" + b"x" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
ZIP = b"PK\x03\x04" + b"\0" * 30


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def stored_files() -> list[str]:
    root = default_storage.location  # type: ignore[attr-defined]
    import os

    return [name for _, _, names in os.walk(root) for name in names]


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def contract() -> Contract:
    return make_contract(make_proposal(amounts=(100_000, 150_000, 50_000)))


def funded(contract: Contract, position: int = 1) -> Milestone:
    return fund_for_test(contract.milestones.get(position=position))


# --- the plan ------------------------------------------------------------------------


def test_client_adds_a_milestone_at_the_end_and_the_freelancer_is_told(
    contract, django_capture_on_commit_callbacks, live_pushes
):
    inbox = live_pushes(contract.freelancer_id)
    with django_capture_on_commit_callbacks(execute=True):
        added = services.add_milestone(
            actor=contract.client,
            contract_id=contract.pk,
            title=" Extra ",
            amount=5_000,
            due_date=date(2030, 1, 1),
        )
    assert (added.position, added.title, int(added.amount)) == (4, "Extra", 5_000)
    assert ContractActivity.objects.filter(contract=contract, verb="milestone_added").exists()
    assert len(inbox.payloads()) == 1


@pytest.mark.parametrize(
    ("title", "amount", "code"),
    [
        ("X", 0, "amount_not_positive"),
        ("X", -5, "amount_not_positive"),
        ("  ", 10, "title_required"),
    ],
)
def test_bad_milestone_terms_are_refused(contract, title, amount, code):
    with pytest.raises(DomainError) as refused:
        services.add_milestone(
            actor=contract.client, contract_id=contract.pk, title=title, amount=amount
        )
    assert refused.value.code == code
    assert contract.milestones.count() == 3


def test_freelancer_may_not_edit_the_plan_and_outsiders_see_nothing(contract):
    with pytest.raises(NotAllowed):
        services.add_milestone(
            actor=contract.freelancer, contract_id=contract.pk, title="X", amount=1
        )
    with pytest.raises(NotFoundError):
        services.add_milestone(actor=make_user(), contract_id=contract.pk, title="X", amount=1)
    milestone = contract.milestones.get(position=1)
    with pytest.raises(NotAllowed):
        services.update_milestone(actor=contract.freelancer, milestone_id=milestone.pk, amount=9)
    with pytest.raises(NotFoundError):
        services.remove_milestone(actor=make_user(), milestone_id=milestone.pk)
    assert contract.milestones.count() == 3
    milestone.refresh_from_db()
    assert int(milestone.amount) == 100_000


def test_plan_is_frozen_unless_the_contract_is_active():
    offered = make_contract(status=Contract.Status.OFFERED)
    with pytest.raises(Conflict) as refused:
        services.add_milestone(actor=offered.client, contract_id=offered.pk, title="X", amount=1)
    assert refused.value.code == "contract_not_active"


def test_update_changes_a_draft_milestone(contract):
    milestone = contract.milestones.get(position=2)
    services.update_milestone(
        actor=contract.client,
        milestone_id=milestone.pk,
        title="Design",
        amount=160_000,
        due_date=None,
    )
    milestone.refresh_from_db()
    assert (milestone.title, int(milestone.amount)) == ("Design", 160_000)
    assert ContractActivity.objects.filter(verb="milestone_changed").count() == 1


def test_editing_or_removing_a_funded_milestone_is_409(contract):
    milestone = funded(contract)
    with pytest.raises(Conflict) as refused:
        services.update_milestone(actor=contract.client, milestone_id=milestone.pk, amount=1)
    assert refused.value.code == "milestone_not_draft"
    with pytest.raises(Conflict):
        services.remove_milestone(actor=contract.client, milestone_id=milestone.pk)
    milestone.refresh_from_db()
    assert int(milestone.amount) == 100_000


def test_remove_keeps_positions_contiguous(contract):
    first = contract.milestones.get(position=1)
    services.remove_milestone(actor=contract.client, milestone_id=first.pk)
    assert list(contract.milestones.values_list("position", "title")) == [
        (1, "Milestone 2"),
        (2, "Milestone 3"),
    ]
    assert ContractActivity.objects.filter(verb="milestone_removed").count() == 1


def test_the_last_milestone_stays(contract):
    *rest, last = contract.milestones.all()
    for milestone in rest:
        services.remove_milestone(actor=contract.client, milestone_id=milestone.pk)
    with pytest.raises(Conflict) as refused:
        services.remove_milestone(actor=contract.client, milestone_id=last.pk)
    assert refused.value.code == "last_milestone"


def test_removing_the_last_unfinished_milestone_completes_the_contract(contract):
    contract.milestones.filter(position__in=[1, 2]).update(status=Milestone.Status.RELEASED)
    services.remove_milestone(
        actor=contract.client, milestone_id=contract.milestones.get(position=3).pk
    )
    contract.refresh_from_db()
    assert contract.status == Contract.Status.COMPLETED
    assert Profile.objects.get(user_id=contract.freelancer_id).completed_contracts == 1


# --- submit ---------------------------------------------------------------------------


def test_freelancer_submits_funded_work_with_files(
    contract, settings, django_capture_on_commit_callbacks, live_pushes
):
    settings.ESCROW_REVIEW_DAYS = 3
    milestone = funded(contract)
    files = [upload("report.pdf", PDF), upload("shot.PNG", PNG), upload("notes.md", b"# Notes\n")]
    before = timezone.now()
    inbox = live_pushes(contract.client_id)
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submit_milestone(
            actor=contract.freelancer, milestone_id=milestone.pk, message="Done.", files=files
        )
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.SUBMITTED
    assert milestone.submitted_at is not None
    assert milestone.review_deadline is not None
    assert milestone.submitted_at >= before
    assert milestone.review_deadline - milestone.submitted_at == pytest.approx(
        timedelta(days=3), abs=timedelta(seconds=5)
    )
    assert submission.number == 1
    rows = {row.name: row for row in submission.files.all()}
    assert rows["report.pdf"].sha256 == hashlib.sha256(PDF).hexdigest()
    assert rows["report.pdf"].size == len(PDF)
    assert rows["report.pdf"].content_type == "application/pdf"
    assert rows["shot.PNG"].content_type == "image/png"
    with rows["notes.md"].file.open("rb") as handle:
        assert handle.read() == b"# Notes\n"
    assert MilestoneEvent.objects.filter(milestone=milestone, to_status="submitted").count() == 1
    assert len(inbox.payloads()) == 1


def test_submitting_an_unfunded_milestone_is_409_and_writes_nothing(contract):
    milestone = contract.milestones.get(position=1)
    with pytest.raises(InvalidTransition) as refused:
        services.submit_milestone(
            actor=contract.freelancer,
            milestone_id=milestone.pk,
            message="Done.",
            files=[upload("a.pdf", PDF)],
        )
    assert refused.value.code == "invalid_transition"
    assert not Submission.objects.exists()
    assert stored_files() == []


def test_client_may_not_submit_and_outsider_gets_404(contract):
    milestone = funded(contract)
    with pytest.raises(NotAllowed):
        services.submit_milestone(actor=contract.client, milestone_id=milestone.pk, message="x")
    with pytest.raises(NotFoundError):
        services.submit_milestone(actor=make_user(), milestone_id=milestone.pk, message="x")
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ([upload("run.exe", b"MZ\x90\x00")], "file_type_not_allowed"),
        ([upload("noext", b"hello")], "file_type_not_allowed"),
        ([upload("fake.pdf", b"MZ\x90\x00 not a pdf")], "file_type_not_allowed"),
        ([upload("fake.docx", b"%PDF-1.4")], "file_type_not_allowed"),
        ([upload("binary.txt", b"abc\x00def")], "file_type_not_allowed"),
        (
            [upload("clip.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 8), upload("x.js", b"1")],
            "file_type_not_allowed",
        ),
        ([upload(f"f{i}.txt", b"hi") for i in range(11)], "too_many_files"),
    ],
)
def test_disallowed_uploads_are_refused_and_nothing_is_written(contract, files, code):
    milestone = funded(contract)
    with pytest.raises(DomainError) as refused:
        services.submit_milestone(
            actor=contract.freelancer, milestone_id=milestone.pk, message="x", files=files
        )
    assert refused.value.code == code
    assert refused.value.status_code == 400
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    assert not Submission.objects.exists()
    assert not SubmissionFile.objects.exists()
    assert stored_files() == []


def test_a_file_over_25_mb_is_refused(contract):
    milestone = funded(contract)
    big = upload("big.zip", ZIP + b"\0" * (services.MAX_FILE_BYTES - len(ZIP) + 1))
    with pytest.raises(DomainError) as refused:
        services.submit_milestone(
            actor=contract.freelancer,
            milestone_id=milestone.pk,
            message="x",
            files=[upload("ok.pdf", PDF), big],
        )
    assert refused.value.code == "file_too_large"
    assert stored_files() == []


def test_a_failure_after_storing_files_removes_them(contract):
    milestone = funded(contract)
    with (
        mock.patch.object(services, "record_activity", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        services.submit_milestone(
            actor=contract.freelancer,
            milestone_id=milestone.pk,
            message="x",
            files=[upload("a.pdf", PDF)],
        )
    assert not Submission.objects.exists()
    assert stored_files() == []


def test_a_message_is_required(contract):
    milestone = funded(contract)
    with pytest.raises(DomainError) as refused:
        services.submit_milestone(
            actor=contract.freelancer, milestone_id=milestone.pk, message="   "
        )
    assert refused.value.code == "message_required"


def test_all_allowed_types_pass(contract):
    milestone = funded(contract)
    files = [
        upload("a.pdf", PDF),
        upload("b.png", PNG),
        upload("c.jpg", b"\xff\xd8\xff\xe0"),
        upload("d.jpeg", b"\xff\xd8\xff\xdb"),
        upload("e.gif", b"GIF89a..."),
        upload("f.txt", "héllo".encode()),
        upload("g.csv", b"a,b\n1,2\n"),
        upload("h.zip", ZIP),
        upload("i.docx", ZIP),
        upload("j.xlsx", ZIP),
    ]
    submission = services.submit_milestone(
        actor=contract.freelancer, milestone_id=milestone.pk, message="All", files=files
    )
    assert submission.files.count() == 10


# --- revision --------------------------------------------------------------------------


def test_revision_sends_work_back_and_resubmission_is_number_two(contract):
    milestone = funded(contract)
    services.submit_milestone(actor=contract.freelancer, milestone_id=milestone.pk, message="v1")
    revision = services.request_revision(
        actor=contract.client, milestone_id=milestone.pk, reason="Add totals."
    )
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    assert milestone.review_deadline is None
    assert revision.reason == "Add totals."
    assert ContractActivity.objects.filter(verb="revision_requested").exists()
    second = services.submit_milestone(
        actor=contract.freelancer, milestone_id=milestone.pk, message="v2"
    )
    assert second.number == 2
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.SUBMITTED
    assert milestone.review_deadline


def test_revision_needs_a_reason_and_the_client_and_submitted_work(contract):
    milestone = funded(contract)
    with pytest.raises(InvalidTransition):
        services.request_revision(actor=contract.client, milestone_id=milestone.pk, reason="x")
    services.submit_milestone(actor=contract.freelancer, milestone_id=milestone.pk, message="v1")
    with pytest.raises(DomainError) as refused:
        services.request_revision(actor=contract.client, milestone_id=milestone.pk, reason=" ")
    assert refused.value.code == "reason_required"
    with pytest.raises(NotAllowed):
        services.request_revision(actor=contract.freelancer, milestone_id=milestone.pk, reason="x")
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.SUBMITTED
    assert not RevisionRequest.objects.exists()
