"""The ops console: the admin index shows escrow held, disputes, failed payouts, chain
sync lag and the latest reconciliation, each linking to the admin list behind it; the
figures come from smartpay.dashboard in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import NamedTuple

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from disputes.models import Dispute
from disputes.services import assign_arbiter, escalate_dispute, open_dispute
from escrow.models import ChainCursor, Payout, ReconciliationReport
from escrow.services import reconciliation
from marketplace.models import User
from smartpay.dashboard import dashboard_for
from smartpay.models import PeriodicRun
from smartpay.schedule import ensure_periodic_tasks
from tests.disputes.helpers import funded_milestone, make_arbiter, overdue_dispute
from tests.escrow.money import enable_payouts
from tests.factories import verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")


def failed_payout() -> Payout:
    freelancer = verified_user(is_client=False, is_freelancer=True)
    account = enable_payouts(freelancer)
    return Payout.objects.create(
        user=freelancer,
        account=account,
        currency="usd",
        amount=5_000,
        request_key="ops-dashboard-failed",
        status=Payout.Status.FAILED,
        attempts=3,
        failure_message="Account closed",
    )


def lagging_cursor() -> ChainCursor:
    """As chain sync stores it after a failed tick: 20 blocks behind, with its error."""
    return ChainCursor.objects.create(
        chain_id=31337,
        address="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        next_block=100,
        head_block=119,
        last_synced_at=timezone.now() - timedelta(hours=1),
        last_error="The node did not answer within 10 s.",
    )


class Platform(NamedTuple):
    late: Dispute
    payout: Payout
    cursor: ChainCursor
    report: ReconciliationReport


def busy_platform() -> Platform:
    funded_milestone((100_000,))  # $1,000.00 held
    late = overdue_dispute()  # $1,500.00 held, disputed, open past its deadline
    return Platform(late, failed_payout(), lagging_cursor(), reconciliation.reconcile())


def html_of(client: Client) -> str:
    response = client.get(INDEX)
    assert response.status_code == 200
    return unescape(response.content.decode())


def test_the_index_shows_the_ops_figures_with_links_to_the_lists_behind_them() -> None:
    made = busy_platform()
    ops = verified_user(is_staff=True, is_superuser=True, is_client=False)
    browser = signed_in_with_mfa(ops)

    html = html_of(browser)

    assert "Held in escrow" in html
    assert "$2,500.00" in html  # both milestones' escrow, card rail, USD
    held_link = reverse("admin:escrow_ledgeraccount_changelist") + (
        "?kind__exact=escrow&currency__exact=usd"
    )
    assert held_link in html
    overdue_link = reverse("admin:disputes_dispute_changelist") + "?overdue=yes"
    assert overdue_link in html
    assert "<strong>1</strong> overdue" in html
    assert "<strong>1</strong> not closed" in html
    failed_link = reverse("admin:escrow_payout_changelist") + "?status__exact=failed"
    assert failed_link in html
    assert "<strong>1</strong> failed (money returned to the balance)" in html
    assert reverse("admin:escrow_chaincursor_change", args=[made.cursor.pk]) in html
    assert "20 blocks behind" in html
    assert "The node did not answer within 10 s." in html
    assert reverse("admin:escrow_reconciliationreport_change", args=[made.report.pk]) in html
    assert ("clean — ledger and rails agree" in html) == made.report.ok

    # The links lead to the rows counted.
    late = browser.get(overdue_link)
    assert [d.pk for d in late.context["cl"].result_list] == [made.late.pk]
    failed = browser.get(failed_link)
    assert [p.pk for p in failed.context["cl"].result_list] == [made.payout.pk]
    held = browser.get(held_link)
    assert sum(int(a.balance) for a in held.context["cl"].result_list) == 250_000


def test_the_figures_take_the_same_few_queries_however_much_there_is() -> None:
    ops = verified_user(is_staff=True, is_superuser=True, is_client=False)
    funded_milestone()
    assert not ops.is_arbiter  # ops, not in the arbiters group (asked once, then cached)
    with CaptureQueriesContext(connection) as few:
        dashboard_for(ops)
    busy_platform()
    funded_milestone((300_000,))
    overdue_dispute()
    with CaptureQueriesContext(connection) as many:
        board = dashboard_for(ops)
    assert len(many) == len(few) <= 10
    assert board.disputes is not None
    assert board.disputes.overdue == 2
    assert board.payouts is not None
    assert board.payouts.failed == 1
    assert board.escrow is not None
    assert [(line.rail, line.currency, line.total) for line in board.escrow] == [
        ("card", "usd", 100_000 + 100_000 + 150_000 + 150_000 + 300_000)
    ]


def test_an_arbiter_sees_their_queue_not_the_ops_figures() -> None:
    busy_platform()
    arbiter = make_arbiter()
    contract, milestone = funded_milestone()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Late."
    )
    escalate_dispute(actor=contract.client, dispute_id=dispute.pk)
    assign_arbiter(actor=None, dispute_id=dispute.pk, arbiter_id=arbiter.pk)
    Dispute.objects.filter(pk=dispute.pk).update(
        decision_due_at=timezone.now() - timedelta(minutes=1)
    )

    html = html_of(signed_in_with_mfa(arbiter))

    assert "Your arbitration queue" in html
    assert "<strong>1</strong> assigned to you" in html
    assert "<strong>1</strong> of yours overdue" in html
    assert reverse("admin:disputes_dispute_changelist") + "?mine=mine" in html
    ops_blocks = ("Held in escrow", "Payouts", "Chain sync", "Latest reconciliation")
    for ops_only in (*ops_blocks, "Periodic tasks"):
        assert ops_only not in html


def test_staff_see_only_the_blocks_they_may_view() -> None:
    busy_platform()
    viewer = verified_user(is_staff=True, is_client=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_payout"))

    html = html_of(signed_in_with_mfa(User.objects.get(pk=viewer.pk)))

    assert "<strong>1</strong> failed (money returned to the balance)" in html
    hidden_blocks = ("Held in escrow", "Chain sync", "Latest reconciliation", "Periodic tasks")
    for hidden in (*hidden_blocks, "arbitration queue"):
        assert hidden not in html


def test_the_index_names_overdue_periodic_tasks() -> None:
    ensure_periodic_tasks()
    ops = verified_user(is_staff=True, is_superuser=True, is_client=False)
    browser = signed_in_with_mfa(ops)
    assert "9 scheduled, none overdue." in html_of(browser)

    PeriodicRun.objects.filter(name="escrow-settle").update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    html = html_of(browser)
    assert "1 overdue</a>: escrow-settle" in html
    assert reverse("admin:smartpay_periodicrun_changelist") in html
