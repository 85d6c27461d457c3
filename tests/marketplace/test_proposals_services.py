"""Service edge cases for jobs and proposals that the doors don't reach easily."""

from __future__ import annotations

import datetime

import pytest

from marketplace.models import Job, Proposal
from marketplace.services import jobs as job_services
from marketplace.services import proposals as proposal_services
from marketplace.services.proposals import PlannedMilestone
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotFoundError
from tests.factories import make_job, make_proposal, verified_freelancer, verified_user

pytestmark = pytest.mark.django_db


def test_the_client_is_told_of_a_new_proposal_after_commit(
    django_capture_on_commit_callbacks, live_pushes
):
    job = make_job(verified_user())
    inbox = live_pushes(job.client_id)
    with django_capture_on_commit_callbacks(execute=True):
        proposal = proposal_services.submit_proposal(
            actor=verified_freelancer(),
            job_id=job.pk,
            cover_letter="Hello",
            currency="usd",
            milestones=[PlannedMilestone("All", 5)],
        )
    [payload] = inbox.payloads()
    assert payload["type"] == "notification"
    assert payload["unread"] == 1
    assert {k: payload["notification"][k] for k in ("verb", "title", "url", "read")} == {
        "verb": "proposal_submitted",
        "title": f"New proposal on “{job.title}”",
        "url": f"/proposals/{proposal.pk}/",
        "read": False,
    }


def test_a_refused_proposal_pushes_nothing(django_capture_on_commit_callbacks, live_pushes):
    job = make_job()
    inbox = live_pushes(job.client_id)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DomainError):
        proposal_services.submit_proposal(
            actor=verified_freelancer(),
            job_id=job.pk,
            cover_letter="Hello",
            currency="usd",
            milestones=[PlannedMilestone("All", 5)],
            total=6,
        )
    assert inbox.payloads() == []


def test_a_proposal_on_a_closed_job_cannot_be_edited():
    proposal = make_proposal()
    Job.objects.filter(pk=proposal.job_id).update(status=Job.Status.CLOSED)
    with pytest.raises(InvalidTransition) as caught:
        proposal_services.update_proposal(
            actor=proposal.freelancer, proposal_id=proposal.pk, cover_letter="x"
        )
    assert caught.value.code == "job_not_open"


def test_shortlisting_twice_is_harmless():
    proposal = make_proposal()
    owner = proposal.job.client
    proposal_services.shortlist_proposal(actor=owner, proposal_id=proposal.pk)
    again = proposal_services.shortlist_proposal(actor=owner, proposal_id=proposal.pk)
    assert again.status == Proposal.Status.SHORTLISTED


def test_a_missing_job_or_proposal_is_not_found():
    with pytest.raises(NotFoundError):
        job_services.close_job(actor=verified_user(), job_id=999_999)
    with pytest.raises(NotFoundError):
        proposal_services.withdraw_proposal(actor=verified_user(), proposal_id=999_999)


def test_inviting_to_a_closed_job_is_refused():
    owner = verified_user()
    job = make_job(owner, status=Job.Status.CLOSED)
    with pytest.raises(InvalidTransition):
        job_services.invite_freelancer(
            actor=owner, job_id=job.pk, freelancer_id=verified_freelancer().pk
        )


def test_publishing_a_draft_whose_deadline_passed_is_refused():
    owner = verified_user()
    job = make_job(
        owner,
        status=Job.Status.DRAFT,
        published_at=None,
        deadline=datetime.date(2000, 1, 1),
    )
    with pytest.raises(DomainError) as caught:
        job_services.publish_job(actor=owner, job_id=job.pk)
    assert caught.value.code == "deadline_in_past"
    job.refresh_from_db()
    assert job.status == Job.Status.DRAFT


def test_a_second_proposal_by_the_same_freelancer_is_a_conflict():
    proposal = make_proposal(freelancer=verified_freelancer())
    with pytest.raises(Conflict) as caught:
        proposal_services.submit_proposal(
            actor=proposal.freelancer,
            job_id=proposal.job_id,
            cover_letter="Again",
            currency="usd",
            milestones=[PlannedMilestone("All", 5)],
        )
    assert caught.value.code == "already_proposed"
    assert Proposal.objects.count() == 1
