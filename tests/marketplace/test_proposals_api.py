"""Proposals API: propose once with a milestone plan, edit until decided, withdraw,
shortlist, decline; only the freelancer and the job's owner see a proposal."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from marketplace.models import Job, Proposal, ProposalMilestone
from tests.factories import (
    make_job,
    make_proposal,
    make_user,
    verified_freelancer,
    verified_user,
)

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def plan_body(**overrides):
    body = {
        "cover_letter": "I have built three of these.",
        "currency": "usd",
        "milestones": [
            {"title": "API", "amount": 100_000, "due_date": "2030-01-10"},
            {"title": "Pages", "amount": 150_000},
        ],
        "total": 250_000,
    }
    body.update(overrides)
    return body


def propose(user, job, **overrides):
    return api_for(user).post(
        f"/api/v1/jobs/{job.pk}/proposals/", plan_body(**overrides), format="json"
    )


def test_a_freelancer_proposes_and_the_total_is_the_sum():
    job = make_job()
    response = propose(verified_freelancer(), job, total=None)
    assert response.status_code == 400  # null total is not an integer
    body = plan_body()
    del body["total"]
    response = api_for(verified_freelancer()).post(
        f"/api/v1/jobs/{job.pk}/proposals/", body, format="json"
    )
    assert response.status_code == 201, response.data
    data = response.data
    assert data["total"] == 250_000
    assert data["total_display"] == "$2,500.00"
    assert data["status"] == "submitted"
    assert [m["position"] for m in data["milestones"]] == [1, 2]
    assert data["milestones"][0]["amount_display"] == "$1,000.00"


def test_proposing_twice_is_a_409():
    job, freelancer = make_job(), verified_freelancer()
    assert propose(freelancer, job).status_code == 201
    again = propose(freelancer, job)
    assert (again.status_code, again.data["code"]) == (409, "already_proposed")
    assert Proposal.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"currency": "eur"}, "wrong_currency"),
        ({"total": 999}, "milestone_total_mismatch"),
        ({"milestones": [], "total": 0}, "invalid_milestone_count"),
        (
            {"milestones": [{"title": f"M{i}", "amount": 1} for i in range(21)], "total": 21},
            "invalid_milestone_count",
        ),
        ({"milestones": [{"title": "A", "amount": 0}], "total": 0}, "invalid_milestone_amount"),
        ({"milestones": [{"title": "A", "amount": -5}], "total": -5}, "invalid_milestone_amount"),
        ({"milestones": [{"title": " ", "amount": 5}], "total": 5}, "invalid"),
    ],
)
def test_bad_plans_are_refused_and_nothing_is_written(overrides, code):
    response = propose(verified_freelancer(), make_job(), **overrides)
    assert response.status_code == 400, response.data
    assert response.data["code"] == code
    assert not Proposal.objects.exists()
    assert not ProposalMilestone.objects.exists()


def test_proposing_on_your_own_job_is_refused():
    owner = verified_user(is_freelancer=True)
    job = make_job(owner)
    response = propose(owner, job)
    assert (response.status_code, response.data["code"]) == (403, "own_job")
    assert not Proposal.objects.exists()


def test_proposing_needs_a_verified_freelancer():
    job = make_job()
    unverified = make_user(is_freelancer=True)
    response = propose(unverified, job)
    assert (response.status_code, response.data["code"]) == (403, "email_unverified")
    client_only = verified_user()
    response = propose(client_only, job)
    assert (response.status_code, response.data["code"]) == (403, "not_a_freelancer")
    assert not Proposal.objects.exists()


def test_proposing_on_a_job_you_cannot_see_is_a_404():
    draft = make_job(status=Job.Status.DRAFT, published_at=None)
    hidden = make_job(visibility=Job.Visibility.INVITE_ONLY)
    for job in (draft, hidden):
        assert propose(verified_freelancer(), job).status_code == 404
    assert not Proposal.objects.exists()


def test_proposing_on_a_closed_job_is_a_409():
    job = make_job(status=Job.Status.CLOSED)
    response = propose(verified_freelancer(), job)
    assert (response.status_code, response.data["code"]) == (409, "job_not_open")


def test_an_invited_freelancer_proposes_on_an_invite_only_job():
    owner = verified_user()
    job = make_job(owner, visibility=Job.Visibility.INVITE_ONLY)
    freelancer = verified_freelancer()
    api_for(owner).post(f"/api/v1/jobs/{job.pk}/invites/", {"freelancer": freelancer.pk})
    assert propose(freelancer, job).status_code == 201


# --- visibility -----------------------------------------------------------


def test_only_the_owner_sees_every_proposal_on_a_job():
    owner = verified_user()
    job = make_job(owner)
    first, second = make_proposal(job), make_proposal(job)
    listed = api_for(owner).get(f"/api/v1/jobs/{job.pk}/proposals/").data["results"]
    assert {p["id"] for p in listed} == {first.pk, second.pk}
    own = api_for(first.freelancer).get(f"/api/v1/jobs/{job.pk}/proposals/").data["results"]
    assert [p["id"] for p in own] == [first.pk]
    bystander = api_for(verified_freelancer())
    assert bystander.get(f"/api/v1/jobs/{job.pk}/proposals/").data["results"] == []
    assert bystander.get(f"/api/v1/proposals/{first.pk}/").status_code == 404
    assert api_for(second.freelancer).get(f"/api/v1/proposals/{first.pk}/").status_code == 404
    assert api_for(owner).get(f"/api/v1/proposals/{first.pk}/").status_code == 200


def test_proposals_on_a_draft_are_a_404_for_others():
    job = make_job(status=Job.Status.DRAFT, published_at=None)
    response = api_for(verified_freelancer()).get(f"/api/v1/jobs/{job.pk}/proposals/")
    assert response.status_code == 404


def test_acting_on_someone_elses_proposal_changes_nothing():
    proposal = make_proposal()
    bystander = api_for(verified_freelancer())
    for action in ("withdraw", "shortlist", "decline"):
        assert bystander.post(f"/api/v1/proposals/{proposal.pk}/{action}/").status_code == 404
    assert (
        bystander.patch(
            f"/api/v1/proposals/{proposal.pk}/", {"cover_letter": "x"}, format="json"
        ).status_code
        == 404
    )
    # The owner may not withdraw or edit; the freelancer may not shortlist or decline.
    owner = api_for(proposal.job.client)
    response = owner.post(f"/api/v1/proposals/{proposal.pk}/withdraw/")
    assert (response.status_code, response.data["code"]) == (403, "not_your_proposal")
    response = owner.patch(
        f"/api/v1/proposals/{proposal.pk}/", {"cover_letter": "x"}, format="json"
    )
    assert response.status_code == 403
    freelancer = api_for(proposal.freelancer)
    for action in ("shortlist", "decline"):
        response = freelancer.post(f"/api/v1/proposals/{proposal.pk}/{action}/")
        assert (response.status_code, response.data["code"]) == (403, "not_job_owner")
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SUBMITTED
    assert proposal.cover_letter == "I have built three of these."


def test_my_proposals_lists_only_mine():
    mine = make_proposal()
    make_proposal()
    listed = api_for(mine.freelancer).get("/api/v1/proposals/").data["results"]
    assert [p["id"] for p in listed] == [mine.pk]


# --- editing and deciding ---------------------------------------------------


def test_editing_replaces_the_plan_whole():
    proposal = make_proposal()
    api = api_for(proposal.freelancer)
    response = api.patch(
        f"/api/v1/proposals/{proposal.pk}/",
        {"milestones": [{"title": "All of it", "amount": 240_000}], "cover_letter": "Cheaper"},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["total"] == 240_000
    assert [m["title"] for m in response.data["milestones"]] == ["All of it"]
    assert ProposalMilestone.objects.filter(proposal=proposal).count() == 1


def test_a_bad_edit_keeps_the_old_plan():
    proposal = make_proposal()
    response = api_for(proposal.freelancer).patch(
        f"/api/v1/proposals/{proposal.pk}/",
        {"milestones": [{"title": "A", "amount": 10}], "total": 11},
        format="json",
    )
    assert (response.status_code, response.data["code"]) == (400, "milestone_total_mismatch")
    proposal.refresh_from_db()
    assert proposal.total == 250_000
    assert proposal.milestones.count() == 2


@pytest.mark.parametrize(
    "status", [Proposal.Status.DECLINED, Proposal.Status.WITHDRAWN, Proposal.Status.ACCEPTED]
)
def test_a_decided_proposal_cannot_change(status):
    proposal = make_proposal()
    Proposal.objects.filter(pk=proposal.pk).update(status=status)
    api = api_for(proposal.freelancer)
    response = api.patch(f"/api/v1/proposals/{proposal.pk}/", {"cover_letter": "x"}, format="json")
    assert (response.status_code, response.data["code"]) == (409, "proposal_decided")
    response = api.post(f"/api/v1/proposals/{proposal.pk}/withdraw/")
    assert (response.status_code, response.data["code"]) == (409, "proposal_decided")
    response = api_for(proposal.job.client).post(f"/api/v1/proposals/{proposal.pk}/decline/")
    assert (response.status_code, response.data["code"]) == (409, "proposal_decided")
    proposal.refresh_from_db()
    assert proposal.status == status


def test_shortlist_then_decline_then_nothing_more():
    proposal = make_proposal()
    owner = api_for(proposal.job.client)
    response = owner.post(f"/api/v1/proposals/{proposal.pk}/shortlist/")
    assert response.data["status_display"] == "Shortlisted"
    # The freelancer may still edit a shortlisted proposal.
    edited = api_for(proposal.freelancer).patch(
        f"/api/v1/proposals/{proposal.pk}/", {"cover_letter": "Updated"}, format="json"
    )
    assert edited.status_code == 200
    assert owner.post(f"/api/v1/proposals/{proposal.pk}/decline/").data["status"] == "declined"
    response = owner.post(f"/api/v1/proposals/{proposal.pk}/shortlist/")
    assert (response.status_code, response.data["code"]) == (409, "proposal_decided")


def test_withdraw():
    proposal = make_proposal()
    response = api_for(proposal.freelancer).post(f"/api/v1/proposals/{proposal.pk}/withdraw/")
    assert response.data["status"] == "withdrawn"


def test_job_proposals_run_a_constant_number_of_queries():
    owner = verified_user()
    api = api_for(owner)

    def count_for(n: int) -> int:
        job = make_job(owner)
        for _ in range(n):
            make_proposal(job, amounts=(1, 2, 3))
        api.get(f"/api/v1/jobs/{job.pk}/proposals/")
        with CaptureQueriesContext(connection) as queries:
            response = api.get(f"/api/v1/jobs/{job.pk}/proposals/?page_size=50")
        assert len(response.data["results"]) == n
        return len(queries)

    assert count_for(3) == count_for(20)
