"""The escrow ops console: pages load for staff who passed MFA, money rows are
read-only, and actions change state only through services, with messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.sites import site
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from escrow.models import (
    EscrowHold,
    Funding,
    FundingItem,
    LedgerAccount,
    Payout,
    PayoutAccount,
    ReconciliationReport,
    Refund,
    RefundRequest,
    Release,
    Transfer,
    WebhookEvent,
)
from escrow.rails import events, sandbox
from escrow.services import funding as funding_services
from escrow.services import holds, payouts, refunds, release, webhooks
from escrow.services.reconciliation import reconcile
from marketplace.models import Milestone, User
from smartpay.errors import Conflict
from tests.escrow.money import (
    card_contract,
    enable_payouts,
    first_milestone,
    fund,
    pay_by_card,
    submit,
    top_up,
)
from tests.factories import verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db
MONEY_MODELS = (
    Funding,
    Release,
    Refund,
    RefundRequest,
    Payout,
    PayoutAccount,
    WebhookEvent,
    EscrowHold,
    ReconciliationReport,
    LedgerAccount,
    Transfer,
)


class Staff(Client):
    user: User


@pytest.fixture
def staff() -> Staff:
    """A superuser logged in through allauth with password and TOTP, as the admin requires."""
    user = verified_user(is_staff=True, is_superuser=True)
    client = Staff()
    client.user = user
    signed_in_with_mfa(user, client)
    assert client.get("/admin/").status_code == 200
    return client


def url(model: type[Model], view: str = "changelist", *args: Any) -> str:
    return reverse(f"admin:escrow_{model._meta.model_name}_{view}", args=args)


def act(client: Client, model: type, action: str, *pks: int) -> list[str]:
    """Run an admin action on rows; returns the messages the page shows."""
    response = client.post(
        url(model), {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def stored_event(funding: Funding) -> WebhookEvent:
    """The sandbox's payment_intent.succeeded for ``funding``, stored but not processed."""
    assert funding.payment_intent_id
    intent = sandbox.SandboxObject.objects.get(object_id=funding.payment_intent_id).data
    body = events.encode_event(events.build_event("payment_intent.succeeded", intent))
    return webhooks.record_event(body, events.sign_payload(body, settings.STRIPE_WEBHOOK_SECRET))


def a_bit_of_everything() -> None:
    """A release, a refund request, a hold, a payout and a report for the pages to show."""
    contract = card_contract((100_000, 150_000, 50_000, 20_000))
    first, second, third, fourth = contract.milestones.order_by("position")
    submit(fund(first))
    release.approve_milestone(actor=contract.client, milestone_id=first.pk)
    funding = pay_by_card([second])
    refunds.request_refund(
        actor=contract.client, milestone_id=second.pk, reason="Plans changed", destination="card"
    )
    assert funding.payment_intent_id
    holds.freeze_for_chargeback(
        payment_intent_id=funding.payment_intent_id, dispute_id="dp_1", reason="fraudulent"
    )
    fund(fourth)
    refunds.refund_milestone(
        actor=contract.freelancer, milestone_id=fourth.pk, destination="balance"
    )
    card = funding_services.start_funding(
        actor=contract.client, milestone_ids=[third.pk], request_key="page"
    )
    sandbox.confirm_payment(card.payment_intent_id or "", sandbox.SUCCEEDING_CARD)
    stored_event(card)
    freelancer = contract.freelancer
    enable_payouts(freelancer)
    top_up(freelancer, 20_000)
    payouts.request_payout(actor=freelancer, currency="usd", amount=20_000, request_key="p")
    reconcile()


def test_every_escrow_page_loads_for_staff_and_none_offers_to_edit(staff):
    a_bit_of_everything()
    for model in MONEY_MODELS:
        listing = staff.get(url(model))
        assert listing.status_code == 200, model
        row = model.objects.order_by("pk").first()
        assert row is not None, model
        detail = staff.get(url(model, "change", row.pk))
        assert detail.status_code == 200, model
        assert b'name="_save"' not in detail.content, model  # nothing to save
        assert staff.get(url(model, "add")).status_code == 403, model


def test_money_rows_cannot_be_added_changed_or_deleted(rf):
    request = rf.get("/")
    request.user = verified_user(is_staff=True, is_superuser=True)
    for model in (*MONEY_MODELS, FundingItem):
        if model not in site._registry:
            continue
        model_admin = site._registry[model]
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model


def test_a_funding_page_shows_its_milestones_and_hides_the_client_secret(staff):
    funding = pay_by_card([first_milestone(card_contract((100_000,)))])
    page = staff.get(url(Funding, "change", funding.pk)).content.decode()
    assert "$1,000.00" in page
    assert "Milestone 1" in page
    assert funding.client_secret not in page


# --- actions ---------------------------------------------------------------------------------


def backing_off(fake_stripe) -> Payout:
    """A payout whose first Transfer failed on Stripe (503): retrying, with a backoff."""
    freelancer = card_contract().freelancer
    enable_payouts(freelancer, fake_stripe)
    top_up(freelancer, 30_000)
    payout = payouts.request_payout(
        actor=freelancer, currency="usd", amount=30_000, request_key="weekly"
    )
    fake_stripe.fail_next("/v1/transfers", 503)
    return payouts.send_payout(payout_id=payout.pk)


def test_retry_now_sends_a_payout_through_the_service(staff, fake_stripe):
    payout = backing_off(fake_stripe)
    listing = staff.get(url(Payout)).content.decode()
    assert "Failed — will retry" in listing
    Payout.objects.filter(pk=payout.pk).update(next_attempt_at=timezone.now())
    said = act(staff, Payout, "retry_now", payout.pk)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert said == [f"Payout {payout.pk}: Paid; 2 attempt(s) so far."]
    assert len(fake_stripe.of_kind("transfer")) == 1


def test_process_again_runs_a_stored_event(staff):
    milestone = first_milestone(card_contract((100_000,)))
    funding = funding_services.start_funding(
        actor=milestone.contract.client, milestone_ids=[milestone.pk], request_key="e"
    )
    sandbox.confirm_payment(funding.payment_intent_id or "", sandbox.SUCCEEDING_CARD)
    event = stored_event(funding)
    page = staff.get(url(WebhookEvent, "change", event.pk)).content.decode()
    assert "<pre>" in page
    assert "payment_intent.succeeded" in page
    said = act(staff, WebhookEvent, "process_again", event.pk)
    assert said == [f"Event {event.event_id}: Processed."]
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    # Again: already done, nothing moves twice.
    assert act(staff, WebhookEvent, "process_again", event.pk) == [
        f"Event {event.event_id}: Processed."
    ]
    assert (
        Transfer.objects.filter(idempotency_key=f"charge:{funding.payment_intent_id}").count() == 1
    )


def test_lift_hold_calls_the_service_as_the_staff_member(staff):
    milestone = fund(first_milestone(card_contract((100_000,))))
    funding = milestone.funding_items.get().funding
    [hold] = holds.freeze_for_chargeback(
        payment_intent_id=funding.payment_intent_id or "", dispute_id="dp_9", reason="general"
    )
    assert "Frozen" in staff.get(url(EscrowHold)).content.decode()
    said = act(staff, EscrowHold, "lift", hold.pk)
    hold.refresh_from_db()
    assert hold.lifted_at is not None
    assert hold.lifted_by == staff.user
    assert said == [f"Hold {hold.pk} lifted: milestone {milestone.pk}'s money may move."]


def test_a_refusing_service_becomes_a_message_not_an_error_page(staff, monkeypatch):
    milestone = fund(first_milestone(card_contract((100_000,))))
    funding = milestone.funding_items.get().funding
    [hold] = holds.freeze_for_chargeback(
        payment_intent_id=funding.payment_intent_id or "", dispute_id="dp_7", reason="general"
    )

    def refuse(**_: Any) -> EscrowHold:
        raise Conflict("The bank has not decided yet.", code="too_early")

    monkeypatch.setattr(holds, "lift_hold", refuse)
    assert act(staff, EscrowHold, "lift", hold.pk) == [
        f"Hold {hold.pk}: The bank has not decided yet."
    ]

    def crash(**_: Any) -> EscrowHold:
        raise RuntimeError("bug")

    monkeypatch.setattr(holds, "lift_hold", crash)
    assert act(staff, EscrowHold, "lift", hold.pk) == [
        f"Hold {hold.pk} failed unexpectedly (RuntimeError); see logs."
    ]
    hold.refresh_from_db()
    assert hold.lifted_at is None


def test_send_card_refund_now_retries_a_refund_the_provider_refused(staff, fake_stripe):
    milestone = first_milestone(card_contract((100_000,)))
    contract = milestone.contract
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="r"
    )
    fake_stripe.succeed_payment(funding.payment_intent_id or "")
    funding_services.confirm_funding(
        payment_intent_id=funding.payment_intent_id or "", amount_received=100_000, currency="usd"
    )
    refund = refunds.refund_milestone(
        actor=contract.freelancer, milestone_id=milestone.pk, destination="card"
    )
    fake_stripe.fail_next("/v1/refunds", 500)
    refunds.send_card_refund(refund_id=refund.pk)
    said = act(staff, Refund, "send_to_card_now", refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert said[0].startswith(f"Refund {refund.pk}: Refunded")


# --- reconciliation from the console --------------------------------------------------------------


def test_run_reconciliation_now_button_writes_a_report_and_says_so(staff):
    fund(first_milestone(card_contract((100_000,))))
    listing = staff.get(url(ReconciliationReport)).content.decode()
    assert "Run reconciliation now" in listing  # shown even before the first report
    response = staff.post(url(ReconciliationReport, "run"), follow=True)
    assert response.status_code == 200
    report = ReconciliationReport.objects.get()
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Report {report.pk}: ledger and card rail agree."]
    page = staff.get(url(ReconciliationReport, "change", report.pk)).content.decode()
    assert "Clean — ledger and card rail agree" in page
    assert "card:usd: the ledger says $1,000.00 came in through the rail" in page
    assert staff.get(url(ReconciliationReport, "run")).status_code == 405


def test_a_drifting_report_reads_in_words(staff):
    contract = card_contract((100_000,))
    fund(first_milestone(contract))
    sandbox.SandboxObject.objects.filter(kind="balance_transaction").delete()
    said = act(staff, ReconciliationReport, "run_now", reconcile().pk)
    assert said[0].endswith("problem(s) found.")
    report = ReconciliationReport.objects.order_by("-pk").first()
    assert report is not None
    page = staff.get(url(ReconciliationReport, "change", report.pk)).content.decode()
    assert "drift -$1,000.00" in page
    assert "drift of -$1,000.00" in page


def test_the_console_needs_the_second_factor(client):
    client.force_login(verified_user(is_staff=True, is_superuser=True))  # no MFA in session
    assert client.get(url(ReconciliationReport)).status_code == 302
    assert client.post(url(ReconciliationReport, "run")).status_code == 302
    assert not ReconciliationReport.objects.exists()


def test_release_page_shows_money_in_words(staff):
    milestone = submit(fund(first_milestone(card_contract((100_000,)))))
    done = release.approve_milestone(
        actor=milestone.contract.client, milestone_id=milestone.pk, amount=80_000
    )
    Release.objects.filter(pk=done.pk).update(available_at=timezone.now() - timedelta(days=1))
    page = staff.get(url(Release)).content.decode()
    for shown in ("$800.00", "$80.00", "$720.00", "$200.00"):
        assert shown in page


def test_retry_now_sends_a_backing_off_payout_at_once(staff, fake_stripe):
    payout = backing_off(fake_stripe)
    [said] = act(staff, Payout, "retry_now", payout.pk)
    assert said.startswith(f"Payout {payout.pk}: Paid")
    assert Payout.objects.get(pk=payout.pk).status == Payout.Status.PAID
    [transfer] = fake_stripe.of_kind("transfer")
    assert transfer["amount"] == 30_000
