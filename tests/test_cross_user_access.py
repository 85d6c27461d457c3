"""Objects that are not yours are 404 — for every route that names an object.

The routes come from the URL resolver, so a new endpoint with an id in its path
fails this test until it is listed below: either with a way to make an object
private to someone else, or as public on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from eth_account import Account
from rest_framework.test import APIClient

from marketplace.models import Contract, Job, PortfolioItem, User, Wallet
from marketplace.services import milestones as milestone_services
from tests.disputes.private_routes import DISPUTES_PRIVATE
from tests.escrow.private_routes import MONEY_PRIVATE, SANDBOX_PRIVATE, sandbox_funding
from tests.factories import (
    fund_for_test,
    make_completed_contract,
    make_contract,
    make_freelancer_profile,
    make_job,
    make_proposal,
    verified_user,
)
from tests.notifications.private_routes import CHAT_PRIVATE

# Prefixes owned by libraries with their own access rules and tests.
LIBRARY_PREFIXES = ("admin/", "_allauth/", "accounts/", "static/", "media/")
# Routes whose objects are public by design (they still 404 for unknown ids).
PUBLIC: set[str] = {"freelancer_detail", "profile-detail"}

ObjectMaker = Callable[[User], dict[str, object]]


def _wallet(owner: User) -> dict[str, object]:
    wallet = Wallet.objects.create(user=owner, address=Account.create().address, is_primary=True)
    return {"pk": wallet.pk}


def _draft_job(owner: User) -> dict[str, object]:
    return {"pk": make_job(client=owner, status=Job.Status.DRAFT, published_at=None).pk}


def _proposal(owner: User) -> dict[str, object]:
    """The owner's proposal on a third person's job: the stranger is neither."""
    owner.is_freelancer = True
    owner.save(update_fields=["is_freelancer"])
    return {"pk": make_proposal(freelancer=owner).pk}


def _completed_contract(owner: User) -> dict[str, object]:
    return {"contract_id": make_completed_contract(client=owner).pk}


def _portfolio_item(owner: User) -> dict[str, object]:
    item = PortfolioItem.objects.create(profile=make_freelancer_profile(user=owner), title="Work")
    return {"item_id": item.pk}


def _contract(owner: User) -> Contract:
    return make_contract(make_proposal(make_job(owner)))


def contract_pk(owner: User) -> dict[str, object]:
    return {"pk": _contract(owner).pk}


def milestone_pk(owner: User) -> dict[str, object]:
    milestone = _contract(owner).milestones.first()
    assert milestone is not None
    return {"pk": milestone.pk}


def proposal_id(owner: User) -> dict[str, object]:
    return {"proposal_id": make_proposal(make_job(owner)).pk}


def proposal_pk(owner: User) -> dict[str, object]:
    return {"pk": make_proposal(make_job(owner)).pk}


def file_id(owner: User) -> dict[str, object]:
    contract = _contract(owner)
    milestone = fund_for_test(contract.milestones.get(position=1))
    submission = milestone_services.submit_milestone(
        actor=contract.freelancer,
        milestone_id=milestone.pk,
        message="x",
        files=[SimpleUploadedFile("a.txt", b"a")],
    )
    return {"file_id": submission.files.get().pk}


# url name -> how to make an object private to `owner`, as the route's kwargs.
PRIVATE: dict[str, ObjectMaker] = {
    "wallet-detail": _wallet,
    "wallet-primary": _wallet,
    "wallet_make_primary": _wallet,
    "wallet_unlink": _wallet,
    # jobs: a draft is its owner's alone
    **dict.fromkeys(
        [
            "job-detail",
            "job-publish",
            "job-close",
            "job-cancel",
            "job-invites",
            "job-proposals",
            "job_detail",
            "job_edit",
            "job_publish",
            "job_close",
            "job_cancel",
            "job_invite",
            "job_proposals",
            "proposal_create",
        ],
        _draft_job,
    ),
    **dict.fromkeys(
        [
            "proposal-detail",
            "proposal-withdraw",
            "proposal-shortlist",
            "proposal-decline",
            "proposal_detail",
            "proposal_edit",
            "proposal_withdraw",
            "proposal_shortlist",
            "proposal_decline",
        ],
        _proposal,
    ),
    "contract_review": _completed_contract,
    "portfolio_remove": _portfolio_item,
    "profile-portfolio-item": _portfolio_item,
    **dict.fromkeys(
        [
            "contract-accept",
            "contract-decline",
            "contract-detail",
            "contract-milestones",
            "contract-withdraw",
            "contract_workroom",
            "milestone_add",
            "offer_accept",
            "offer_decline",
            "offer_detail",
            "offer_withdraw",
        ],
        contract_pk,
    ),
    **dict.fromkeys(
        [
            "milestone-detail",
            "milestone-request-revision",
            "milestone-submissions",
            "milestone-submit",
            "milestone_edit",
            "milestone_remove",
            "milestone_request_revision",
            "milestone_submit",
        ],
        milestone_pk,
    ),
    "proposal_offer": proposal_id,
    "proposal-accept": proposal_pk,
    "contract_file_download": file_id,
    "escrow_funding_pay": lambda owner: {"pk": sandbox_funding(owner).pk},
    **SANDBOX_PRIVATE,
    **MONEY_PRIVATE,
    **DISPUTES_PRIVATE,
    **CHAT_PRIVATE,
}
# Routes under library prefixes that are ours all the same.
OURS_UNDER_LIBRARY_PREFIX = {"wallet_make_primary", "wallet_unlink"}


def routes_with_ids(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """(route, name) of every named route that takes path arguments."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes_with_ids(entry.url_patterns, route)
        elif entry.pattern.regex.groupindex and entry.name:
            library = route.startswith(LIBRARY_PREFIXES)
            if not library or entry.name in OURS_UNDER_LIBRARY_PREFIX:
                yield route, entry.name


def test_every_route_with_an_id_is_listed():
    unlisted = {name for _, name in routes_with_ids() if name not in PRIVATE.keys() | PUBLIC}
    assert not unlisted, f"add these to PRIVATE or PUBLIC in {__file__}: {sorted(unlisted)}"


@pytest.fixture
def _media(tmp_media):
    return tmp_media


@pytest.mark.django_db
@pytest.mark.usefixtures("_media")
@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_someone_elses_object_is_404(name):
    owner, stranger = verified_user(), verified_user()
    url = reverse(name, kwargs=PRIVATE[name](owner))
    client = APIClient()
    client.force_login(stranger)
    # A body that would be invalid must not turn the 404 into a 400.
    body = {"rail": "bogus", "amount": 0, "title": "", "rating": 9, "email": "x"}
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(url, body, format="json")
        if response.status_code == 405:
            continue
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
