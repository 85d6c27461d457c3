"""Settlement, through the beat task and the management command: auto-release after
the review window, reminders, the payout hold, lapsed refund requests, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from escrow import ledger, tasks
from escrow.models import Funding, Payout, Refund, RefundRequest, Release, WebhookEvent
from escrow.rails import events, sandbox
from escrow.services import funding as funding_services
from escrow.services import payouts, refunds, release, webhooks
from marketplace.models import Milestone, User
from smartpay.periodic import single_run
from tests.escrow.money import (
    balance,
    card_contract,
    enable_payouts,
    escrow_of,
    first_milestone,
    fund,
    submit,
    top_up,
)

pytestmark = pytest.mark.django_db
PAST = timedelta(minutes=5)


def settled() -> dict[str, int]:
    """One run of the beat task; its count per step."""
    counts = tasks.settle()
    assert counts is not None, "the run found the lock taken"
    return counts


def submitted() -> Milestone:
    return submit(fund(first_milestone(card_contract((100_000,)))))


def released() -> Release:
    milestone = submitted()
    return release.approve_milestone(actor=milestone.contract.client, milestone_id=milestone.pk)


def test_settle_releases_submitted_work_whose_review_window_ran_out():
    milestone = submitted()
    Milestone.objects.filter(pk=milestone.pk).update(review_deadline=timezone.now() - PAST)
    counts = settled()
    milestone.refresh_from_db()
    assert counts["auto-release"] == 1
    assert milestone.status == Milestone.Status.RELEASED
    assert milestone.release.released_by is None  # nobody clicked: the window ran out
    assert balance(milestone.contract.freelancer, "pending") == 90_000
    assert escrow_of(milestone) == 0
    assert ledger.find_problems() == []


def test_settle_leaves_work_inside_its_review_window_alone():
    milestone = submitted()
    counts = settled()
    milestone.refresh_from_db()
    assert counts["auto-release"] == 0
    assert milestone.status == Milestone.Status.SUBMITTED
    assert escrow_of(milestone) == 100_000


def test_settle_reminds_the_client_once_before_the_automatic_release(
    django_capture_on_commit_callbacks, eager_tasks
):
    milestone = submitted()
    Milestone.objects.filter(pk=milestone.pk).update(
        review_deadline=timezone.now() + timedelta(days=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert settled()["review reminders"] == 1
        assert settled()["review reminders"] == 0
    [reminder] = mail.outbox
    assert reminder.to == [milestone.contract.client.email]
    assert "released automatically" in reminder.subject


def test_settle_makes_released_money_available_after_the_hold_only():
    done = released()
    freelancer = done.freelancer
    tasks.settle()
    assert (balance(freelancer, "pending"), balance(freelancer)) == (90_000, 0)
    Release.objects.filter(pk=done.pk).update(available_at=timezone.now() - PAST)
    counts = settled()
    assert counts["payout hold"] == 1
    assert (balance(freelancer, "pending"), balance(freelancer)) == (0, 90_000)
    assert Release.objects.get(pk=done.pk).status == Release.Status.AVAILABLE
    assert settled()["payout hold"] == 0
    assert balance(freelancer) == 90_000


def test_settle_accepts_a_refund_request_the_freelancer_left_unanswered():
    milestone = fund(first_milestone(card_contract((100_000,))))
    client = milestone.contract.client
    asked = refunds.request_refund(
        actor=client, milestone_id=milestone.pk, reason="Plans changed", destination="balance"
    )
    RefundRequest.objects.filter(pk=asked.pk).update(respond_by=timezone.now() - PAST)
    counts = settled()
    milestone.refresh_from_db()
    assert counts["refund requests"] == 1
    assert milestone.status == Milestone.Status.REFUNDED
    assert RefundRequest.objects.get(pk=asked.pk).status == RefundRequest.Status.ACCEPTED
    assert balance(client) == 100_000


def connected_on_stripe(freelancer: User, fake_stripe) -> None:
    enable_payouts(freelancer, fake_stripe)


def test_settle_retries_a_payout_once_its_backoff_has_passed(fake_stripe):
    freelancer = card_contract().freelancer
    connected_on_stripe(freelancer, fake_stripe)
    top_up(freelancer, 50_000)
    payout = payouts.request_payout(
        actor=freelancer, currency="usd", amount=50_000, request_key="weekly"
    )
    fake_stripe.fail_next("/v1/transfers", 503)
    payout = payouts.send_payout(payout_id=payout.pk)
    assert payout.status == Payout.Status.RETRYING
    assert settled()["payouts"] == 0  # still backing off
    Payout.objects.filter(pk=payout.pk).update(next_attempt_at=timezone.now() - PAST)
    counts = settled()
    payout.refresh_from_db()
    assert counts["payouts"] == 1
    assert payout.status == Payout.Status.PAID
    assert payout.attempts == 2
    assert len(fake_stripe.of_kind("transfer")) == 1


def test_settle_retries_a_card_refund_the_provider_failed(fake_stripe):
    milestone = first_milestone(card_contract((100_000,)))
    contract = milestone.contract
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="card"
    )
    assert funding.payment_intent_id
    fake_stripe.succeed_payment(funding.payment_intent_id)
    funding_services.confirm_funding(
        payment_intent_id=funding.payment_intent_id, amount_received=100_000, currency="usd"
    )
    refund = refunds.refund_milestone(
        actor=contract.freelancer, milestone_id=milestone.pk, destination="card"
    )
    fake_stripe.fail_next("/v1/refunds", 500)
    refund = refunds.send_card_refund(refund_id=refund.pk)
    assert refund.status == Refund.Status.PENDING
    Refund.objects.filter(pk=refund.pk).update(
        created_at=timezone.now() - PAST, next_attempt_at=timezone.now() - PAST
    )
    counts = settled()
    refund.refresh_from_db()
    assert counts["card refunds"] == 1
    assert refund.status == Refund.Status.SUCCEEDED
    assert len(fake_stripe.of_kind("refund")) == 1


def test_settle_processes_a_stored_event_nobody_processed():
    milestone = first_milestone(card_contract((100_000,)))
    funding = funding_services.start_funding(
        actor=milestone.contract.client, milestone_ids=[milestone.pk], request_key="late"
    )
    assert funding.payment_intent_id
    sandbox.confirm_payment(funding.payment_intent_id, sandbox.SUCCEEDING_CARD)
    intent = sandbox.SandboxObject.objects.get(object_id=funding.payment_intent_id).data
    body = events.encode_event(events.build_event("payment_intent.succeeded", intent))
    # Stored, then the web process died before processing it.
    event = webhooks.record_event(body, events.sign_payload(body, settings.STRIPE_WEBHOOK_SECRET))
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - PAST)
    counts = settled()
    assert counts["webhook events"] == 1
    assert WebhookEvent.objects.get(pk=event.pk).status == WebhookEvent.Status.SUCCEEDED
    assert Funding.objects.get(pk=funding.pk).status == Funding.Status.SUCCEEDED
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED


def test_one_failing_step_does_not_stop_the_others(monkeypatch, caplog):
    done = released()
    Release.objects.filter(pk=done.pk).update(available_at=timezone.now() - PAST)

    def broken(*, now=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(release, "auto_release_due", broken)
    counts = settled()
    assert counts["auto-release"] == -1
    assert counts["payout hold"] == 1  # the next steps still ran
    assert balance(done.freelancer) == 90_000
    assert "settlement step auto-release failed" in caplog.text


# --- the management command --------------------------------------------------------------------


def test_settle_command_prints_each_step(capsys):
    milestone = submitted()
    Milestone.objects.filter(pk=milestone.pk).update(review_deadline=timezone.now() - PAST)
    call_command("settle")
    out = capsys.readouterr().out
    assert "auto-release: 1 milestone(s) released" in out
    assert "payout hold: 0 release(s) made available to pay out" in out
    assert "webhook events: 0 event(s) processed again" in out
    assert "Settlement done." in out


def test_settle_command_exits_non_zero_when_a_step_failed(monkeypatch, capsys):
    def broken(*, now=None):
        raise RuntimeError("provider exploded")

    monkeypatch.setattr(payouts, "retry_due_payouts", broken)
    with pytest.raises(CommandError, match="1 settlement step"):
        call_command("settle")
    captured = capsys.readouterr()
    assert "payouts: FAILED (RuntimeError: provider exploded)" in captured.err
    assert "webhook events: 0" in captured.out  # the last step still ran


def test_settle_command_refuses_while_another_run_holds_the_lock():
    with single_run("escrow-settle", 60) as acquired:
        assert acquired
        with pytest.raises(CommandError, match="Another settlement run"):
            call_command("settle")
