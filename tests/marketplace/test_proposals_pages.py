"""Proposal pages: propose with a milestone plan (add rows server-side), review, edit, decide."""

from __future__ import annotations

import pytest
from django.urls import reverse

from marketplace.models import Job, Proposal
from tests.factories import make_job, make_proposal, verified_freelancer, verified_user

pytestmark = pytest.mark.django_db


def plan_form(rows, cover="I can do this.", total_forms=5):
    data = {
        "cover_letter": cover,
        "milestones-TOTAL_FORMS": str(total_forms),
        "milestones-INITIAL_FORMS": "0",
        "milestones-MIN_NUM_FORMS": "0",
        "milestones-MAX_NUM_FORMS": "20",
    }
    for i, (title, amount) in enumerate(rows):
        data[f"milestones-{i}-title"] = title
        data[f"milestones-{i}-amount"] = amount
    return data


def test_a_freelancer_proposes_with_a_plan_in_major_units(client):
    job = make_job()
    client.force_login(verified_freelancer())
    page = client.get(reverse("proposal_create", args=[job.pk])).content.decode()
    assert page.count('name="milestones-') >= 15  # five rows of three fields
    response = client.post(
        reverse("proposal_create", args=[job.pk]),
        plan_form([("API", "1000.00"), ("Pages", "1500.50")]),
    )
    proposal = Proposal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("proposal_detail", args=[proposal.pk])
    assert proposal.total == 250_050
    assert [m.amount for m in proposal.milestones.all()] == [100_000, 150_050]


def test_add_row_round_trip_keeps_what_was_typed(client):
    job = make_job()
    client.force_login(verified_freelancer())
    data = {**plan_form([("API", "1000")]), "add_row": "1"}
    html = client.post(reverse("proposal_create", args=[job.pk]), data).content.decode()
    assert 'name="milestones-5-title"' in html
    assert 'value="API"' in html
    assert not Proposal.objects.exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "A plan has 1 to 20 milestones."),
        ([("A", "0")], "Every milestone amount must be more than zero."),
        ([("A", "1.001")], "USD has at most 2 decimal places."),
        ([("A", "")], "Give each milestone both a title and an amount."),
    ],
)
def test_bad_plans_are_form_errors(client, rows, message):
    job = make_job()
    client.force_login(verified_freelancer())
    response = client.post(reverse("proposal_create", args=[job.pk]), plan_form(rows))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Proposal.objects.exists()


def test_proposing_on_your_own_job_is_a_form_error(client):
    owner = verified_user(is_freelancer=True)
    job = make_job(owner)
    client.force_login(owner)
    response = client.post(reverse("proposal_create", args=[job.pk]), plan_form([("A", "10")]))
    assert "You cannot propose on your own job." in response.content.decode()
    assert not Proposal.objects.exists()


def test_proposing_twice_redirects_to_the_first_proposal(client):
    proposal = make_proposal()
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(
        user=proposal.freelancer, email=proposal.freelancer.email, verified=True, primary=True
    )
    client.force_login(proposal.freelancer)
    response = client.post(
        reverse("proposal_create", args=[proposal.job.pk]), plan_form([("A", "10")])
    )
    assert response["Location"] == reverse("proposal_detail", args=[proposal.pk])
    assert Proposal.objects.count() == 1


def test_the_owner_reviews_shortlists_and_declines(client):
    proposal = make_proposal()
    client.force_login(proposal.job.client)
    html = client.get(reverse("proposal_detail", args=[proposal.pk])).content.decode()
    assert "Submitted" in html
    assert "$2,500.00" in html
    assert "$1,000.00" in html
    assert "Shortlist" in html
    assert "Decline" in html
    assert "Withdraw" not in html
    client.post(reverse("proposal_shortlist", args=[proposal.pk]))
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SHORTLISTED
    client.post(reverse("proposal_decline", args=[proposal.pk]))
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.DECLINED
    html = client.get(reverse("proposal_detail", args=[proposal.pk])).content.decode()
    assert "Declined" in html
    assert "Shortlist</button>" not in html


def test_the_freelancer_edits_then_withdraws(client):
    proposal = make_proposal()
    client.force_login(proposal.freelancer)
    page = client.get(reverse("proposal_edit", args=[proposal.pk])).content.decode()
    assert 'value="1000.00"' in page
    response = client.post(
        reverse("proposal_edit", args=[proposal.pk]),
        plan_form([("Everything", "2400")], cover="New"),
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.total, proposal.cover_letter) == (240_000, "New")
    client.post(reverse("proposal_withdraw", args=[proposal.pk]))
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.WITHDRAWN
    response = client.post(
        reverse("proposal_edit", args=[proposal.pk]), plan_form([("Again", "10")])
    )
    assert "it can no longer change" in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.total == 240_000


def test_others_get_404_for_proposal_pages(client):
    proposal = make_proposal()
    client.force_login(verified_freelancer())
    for name in ("proposal_detail", "proposal_edit"):
        assert client.get(reverse(name, args=[proposal.pk])).status_code == 404
    for name in ("proposal_withdraw", "proposal_shortlist", "proposal_decline"):
        assert client.post(reverse(name, args=[proposal.pk])).status_code == 404
    assert client.get(reverse("job_proposals", args=[proposal.job.pk])).status_code == 404
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.SUBMITTED


def test_lists_of_proposals(client):
    job = make_job(verified_user())
    first = make_proposal(job)
    make_proposal(job)
    client.force_login(job.client)
    html = client.get(reverse("job_proposals", args=[job.pk])).content.decode()
    assert html.count("Submitted</td>") == 2
    client.force_login(first.freelancer)
    html = client.get(reverse("proposal_mine")).content.decode()
    assert html.count("Submitted</td>") == 1
    assert job.title in html


def test_a_closed_job_takes_no_proposals(client):
    job = make_job(status=Job.Status.CLOSED)
    client.force_login(verified_freelancer())
    response = client.post(reverse("proposal_create", args=[job.pk]), plan_form([("A", "10")]))
    assert "This job is not open for proposals." in response.content.decode()
