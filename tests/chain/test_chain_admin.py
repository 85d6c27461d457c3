"""The chain rail in the ops console: pages for staff who passed MFA, nothing for anyone
else, and the resolve form and "Retry now" acting only through the arbiter service."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from escrow.chain.arbiter import resolve_on_chain
from escrow.chain.sync import sync_chain
from escrow.models import ChainCheckpoint, ChainCursor, ChainEscrow, ChainLog, ChainTransaction
from marketplace.models import ARBITERS_GROUP, Contract, Milestone, User
from tests.chain.agreement import open_escrow
from tests.chain.conftest import Chain
from tests.chain.rail import ChainRail
from tests.factories import verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db
CHAIN_MODELS = (ChainEscrow, ChainLog, ChainCursor, ChainCheckpoint, ChainTransaction)


def logged_in(user: User) -> Client:
    return signed_in_with_mfa(user)


@pytest.fixture
def staff() -> Client:
    """Ops staff who are also arbiters (they resolve chain disputes here)."""
    user = verified_user(is_staff=True, is_superuser=True, is_client=False)
    user.groups.add(Group.objects.get(name=ARBITERS_GROUP))
    return logged_in(user)


def milestone_at(contract: Contract, index: int) -> Milestone:
    return contract.milestones.order_by("position")[index]


def url(model: type[Model], view: str = "changelist", *args: Any) -> str:
    return reverse(f"admin:escrow_{model._meta.model_name}_{view}", args=args)


def resolve_url(contract: Contract) -> str:
    return reverse("admin:escrow_chainescrow_resolve", args=[contract.chain_escrow.pk])


@pytest.fixture
def disputed(chain_rail: ChainRail, chain: Chain) -> Contract:
    """A contract whose milestone 0 was funded and disputed on chain, as chain sync
    recorded it."""
    opened = open_escrow(chain_rail)
    chain.fund(opened.onchain_id, 0)
    chain.dispute(opened.onchain_id, 0)
    sync_chain()
    assert opened.milestone(0).status == Milestone.Status.DISPUTED
    return opened.contract


def test_every_chain_page_renders_for_staff(staff: Client, disputed: Contract) -> None:
    resolve_on_chain(
        actor=User.objects.filter(is_superuser=True).get(),
        milestone_id=milestone_at(disputed, 0).pk,
        freelancer_bps=5_000,
    )
    assert ChainLog.objects.exists()
    assert ChainCursor.objects.exists()
    for model in CHAIN_MODELS:
        listing = staff.get(url(model))
        assert listing.status_code == 200, model
        row = model.objects.first()
        assert row is not None, model
        assert staff.get(url(model, "change", row.pk)).status_code == 200, model
        assert staff.get(url(model, "add")).status_code == 403, model
    page = staff.get(url(ChainTransaction)).content.decode()
    assert "QUEUED → sent → mined → confirmed" in page
    assert "Resolve on chain…" in staff.get(url(ChainEscrow)).content.decode()
    cursor_page = staff.get(url(ChainCursor)).content.decode()
    assert "up to date" in cursor_page or "behind the head" in cursor_page


def test_people_who_are_not_staff_with_mfa_get_no_chain_pages(disputed: Contract) -> None:
    member = Client()
    member.force_login(verified_user())
    staff_without_mfa = Client()
    staff_without_mfa.force_login(verified_user(is_staff=True, is_superuser=True))
    for client in (Client(), member, staff_without_mfa):
        for target in (url(ChainTransaction), url(ChainEscrow), resolve_url(disputed)):
            response = client.get(target)
            assert response.status_code == 302, target
            assert "login" in response["Location"], target
        response = client.post(resolve_url(disputed), {"share_percent": "50", "confirm": "1"})
        assert response.status_code == 302
    assert not ChainTransaction.objects.exists()


def test_the_resolve_form_previews_the_split_then_calls_the_service(
    staff: Client, disputed: Contract
) -> None:
    milestone = milestone_at(disputed, 0)  # 1 ETH, 10 % fee
    page = staff.get(resolve_url(disputed))
    assert page.status_code == 200
    assert milestone.title in page.content.decode()

    form = {"milestone": milestone.pk, "share_percent": "75", "note": "Most was delivered."}
    preview = staff.post(resolve_url(disputed), {**form, "preview": "1"})
    assert preview.status_code == 200
    shown = preview.content.decode()
    assert "0.675" in shown  # to the freelancer: 0.75 ETH less the 10 % fee
    assert "0.075" in shown  # the fee
    assert "0.25" in shown  # back to the client
    assert not ChainTransaction.objects.exists()  # a preview sends nothing

    done = staff.post(resolve_url(disputed), {**form, "confirm": "1"})
    row = ChainTransaction.objects.get()
    assert done.status_code == 302
    assert done["Location"] == url(ChainTransaction, "change", row.pk)
    assert row.key == f"resolve:31337:{disputed.pk}:0"
    assert row.milestone_id == milestone.pk
    assert disputed.activity.filter(verb="resolution_queued", summary__contains="75 %").exists()


def test_a_share_over_100_percent_is_a_form_error(staff: Client, disputed: Contract) -> None:
    form = {"milestone": milestone_at(disputed, 0).pk, "share_percent": "100.5", "confirm": "1"}
    response = staff.post(resolve_url(disputed), form)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not ChainTransaction.objects.exists()


def test_staff_who_are_not_arbiters_are_refused_by_the_service(disputed: Contract) -> None:
    viewer = verified_user(is_staff=True, is_client=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_chainescrow"))
    client = logged_in(viewer)
    form = {"milestone": milestone_at(disputed, 0).pk, "share_percent": "50", "confirm": "1"}
    response = client.post(resolve_url(disputed), form, follow=True)
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert any("Only arbiters may resolve disputes." in message for message in shown)
    assert not ChainTransaction.objects.exists()


def test_retry_now_sends_a_queued_transaction(
    staff: Client, disputed: Contract, chain: Chain
) -> None:
    row = resolve_on_chain(
        actor=User.objects.filter(is_superuser=True).get(),
        milestone_id=milestone_at(disputed, 0).pk,
        freelancer_bps=10_000,
    )
    response = staff.post(
        url(ChainTransaction),
        {"action": "retry_now", "_selected_action": [str(row.pk)]},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    assert any("queued → SENT" in message for message in shown), shown
    row.refresh_from_db()
    assert row.status == ChainTransaction.Status.SENT
    assert chain.status(disputed.pk, 0) == "Resolved"
    sync_chain()
    assert milestone_at(disputed, 0).status == Milestone.Status.RESOLVED
