"""Payouts: connected accounts, Transfers through the real stripe SDK to the fake
Stripe server, retries with backoff, money returned on failure and reversal,
weekly automatic payouts, and concurrent requests on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from escrow import ledger
from escrow.errors import InsufficientFunds
from escrow.models import Payout, PayoutAccount, Transfer
from escrow.rails import AccountInfo
from escrow.services import payouts
from escrow.services.payout_accounts import (
    connect_payout_account,
    set_auto_payout,
    sync_payout_account,
)
from escrow.services.payouts import (
    request_payout,
    retry_due_payouts,
    reverse_payout,
    run_auto_payouts,
    send_payout,
)
from smartpay.errors import Conflict, DomainError, NotAllowed
from tests.escrow.money import balance, top_up
from tests.escrow.webhook_helpers import (
    RETURN_URL,
    account_of,
    connected_freelancer,
    threads_running_eager_tasks,
)
from tests.factories import make_user, verified_freelancer, verified_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _stripe(fake_stripe, eager_tasks, settings):
    settings.PAYOUT_MINIMUM = 1_000
    settings.PAYOUT_MAX_ATTEMPTS = 4
    yield
    assert ledger.find_problems() == []


def transfers_posted(fake) -> list:
    return fake.posts("/v1/transfers")


def pay_out(user, amount, key="k1", *, capture) -> Payout:
    """Request a payout and run what its commit schedules (the send task, eagerly)."""
    with capture(execute=True):
        payout = request_payout(actor=user, currency="usd", amount=amount, request_key=key)
    payout.refresh_from_db()
    return payout


# --- connected accounts -----------------------------------------------------------------------


def test_connecting_creates_one_connected_account_and_returns_its_onboarding_link(fake_stripe):
    user = verified_freelancer()

    first = connect_payout_account(actor=user, return_url=RETURN_URL, refresh_url=RETURN_URL)
    again = connect_payout_account(actor=user, return_url=RETURN_URL, refresh_url=RETURN_URL)

    account = account_of(user)
    assert account.provider == "stripe"
    assert account.status == PayoutAccount.Status.ONBOARDING
    assert not account.payouts_enabled
    assert "external_account" in account.requirements_due
    assert first.startswith("https://connect.stripe.com/setup/")
    assert again.startswith("https://connect.stripe.com/setup/")
    created = fake_stripe.posts("/v1/accounts")
    assert len(created) == 1
    assert created[0].idempotency_key == f"account-{user.pk}"
    assert created[0].params["email"] == user.email
    assert len(fake_stripe.posts("/v1/account_links")) == 2


@pytest.mark.parametrize(
    "make", [lambda: verified_user(is_client=True), lambda: make_user(is_freelancer=True)]
)
def test_clients_and_unverified_freelancers_cannot_connect_an_account(fake_stripe, make):
    with pytest.raises(NotAllowed):
        connect_payout_account(actor=make(), return_url=RETURN_URL, refresh_url=RETURN_URL)

    assert not PayoutAccount.objects.exists()
    assert fake_stripe.posts() == []


def test_provider_outage_while_connecting_is_a_retryable_error(fake_stripe):
    user = verified_freelancer()
    fake_stripe.fail_next("/v1/accounts", 500)

    with pytest.raises(DomainError) as raised:
        connect_payout_account(actor=user, return_url=RETURN_URL, refresh_url=RETURN_URL)

    assert raised.value.code == "provider_unavailable"
    assert not PayoutAccount.objects.exists()
    assert connect_payout_account(actor=user, return_url=RETURN_URL, refresh_url=RETURN_URL)


def test_finished_onboarding_enables_payouts_and_tells_the_freelancer(
    fake_stripe, django_capture_on_commit_callbacks, live_pushes
):
    user = connected_freelancer(fake_stripe, enabled=False)
    account_id = account_of(user).account_id
    fake_stripe.complete_onboarding(account_id)
    inbox = live_pushes(user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        account = sync_payout_account(account_id=account_id)

    assert account is not None
    assert (account.status, account.payouts_enabled, account.requirements_due) == (
        PayoutAccount.Status.ENABLED,
        True,
        [],
    )
    assert [(p["notification"]["title"], p["notification"]["url"]) for p in inbox.payloads()] == [
        ("Payouts are enabled", "/money/")
    ]


def test_submitted_details_without_payouts_are_shown_as_restricted(fake_stripe):
    user = connected_freelancer(fake_stripe, enabled=False)
    info = AccountInfo(
        id=account_of(user).account_id,
        payouts_enabled=False,
        details_submitted=True,
        requirements_due=["individual.verification.document"],
    )

    account = sync_payout_account(account_id=info.id, info=info)

    assert account is not None
    assert account.status == PayoutAccount.Status.RESTRICTED
    assert account.requirements_due == ["individual.verification.document"]


def test_syncing_an_account_we_never_created_does_nothing(fake_stripe):
    assert sync_payout_account(account_id="acct_someone_else") is None
    assert fake_stripe.requests == []


def test_weekly_auto_payout_needs_a_connected_account(fake_stripe):
    user = verified_freelancer()
    with pytest.raises(Conflict):
        set_auto_payout(actor=user, enabled=True)

    connected = connected_freelancer(fake_stripe)
    assert set_auto_payout(actor=connected, enabled=True).auto_payout_weekly
    assert not set_auto_payout(actor=connected, enabled=False).auto_payout_weekly


# --- requesting -----------------------------------------------------------------------------


def test_payout_moves_the_balance_out_and_transfers_it_to_the_connected_account(
    fake_stripe, django_capture_on_commit_callbacks, mailoutbox
):
    user = connected_freelancer(fake_stripe)
    top_up(user, 50_000)

    payout = pay_out(user, 30_000, capture=django_capture_on_commit_callbacks)

    assert payout.status == Payout.Status.PAID
    assert payout.attempts == 1
    assert payout.paid_at is not None
    assert balance(user) == 20_000
    moved = Transfer.objects.get(idempotency_key=f"payout:{payout.pk}")
    assert (moved.amount, moved.destination.kind) == (30_000, "external")
    [call] = transfers_posted(fake_stripe)
    assert call.idempotency_key == f"payout-{payout.pk}"
    assert call.params["amount"] == "30000"
    assert call.params["destination"] == account_of(user).account_id
    assert call.params["metadata"]["payout_id"] == str(payout.pk)
    assert payout.provider_transfer_id == fake_stripe.of_kind("transfer")[0]["id"]
    assert [m.subject for m in mailoutbox] == ["Payout sent"]


def test_no_amount_pays_out_the_whole_available_balance(
    fake_stripe, django_capture_on_commit_callbacks
):
    user = connected_freelancer(fake_stripe)
    top_up(user, 12_345)

    payout = pay_out(user, None, capture=django_capture_on_commit_callbacks)

    assert (payout.amount, payout.status) == (12_345, Payout.Status.PAID)
    assert balance(user) == 0


@pytest.mark.parametrize(
    ("amount", "error", "code"),
    [
        (999, DomainError, "below_minimum"),
        (0, DomainError, "below_minimum"),
        (-5_000, DomainError, "below_minimum"),
        (5_001, InsufficientFunds, "insufficient_funds"),
    ],
)
def test_refused_payout_moves_nothing_and_calls_no_one(fake_stripe, amount, error, code):
    user = connected_freelancer(fake_stripe)
    top_up(user, 5_000)

    with pytest.raises(error) as raised:
        request_payout(actor=user, currency="usd", amount=amount, request_key="k")

    assert raised.value.code == code
    assert balance(user) == 5_000
    assert not Payout.objects.exists()
    assert transfers_posted(fake_stripe) == []


def test_whole_balance_below_the_minimum_is_refused(fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 999)

    with pytest.raises(DomainError) as raised:
        request_payout(actor=user, currency="usd", amount=None, request_key="k")

    assert raised.value.code == "below_minimum"


def test_payout_before_onboarding_is_finished_is_refused(fake_stripe):
    unfinished = connected_freelancer(fake_stripe, enabled=False)
    never_connected = verified_freelancer()
    for user in (unfinished, never_connected):
        top_up(user, 5_000)
        with pytest.raises(Conflict) as raised:
            request_payout(actor=user, currency="usd", amount=5_000, request_key="k")
        assert raised.value.code == "payouts_not_enabled"
        assert balance(user) == 5_000
    assert not Payout.objects.exists()


def test_chain_currencies_are_not_paid_out_by_card_transfer(fake_stripe):
    user = connected_freelancer(fake_stripe)

    with pytest.raises(DomainError) as raised:
        request_payout(actor=user, currency="eth", amount=10**18, request_key="k")

    assert raised.value.code == "unsupported_currency"


def test_same_request_key_returns_the_first_payout_and_pays_once(
    fake_stripe, django_capture_on_commit_callbacks
):
    user = connected_freelancer(fake_stripe)
    top_up(user, 50_000)

    first = pay_out(user, 10_000, "same", capture=django_capture_on_commit_callbacks)
    again = pay_out(user, 10_000, "same", capture=django_capture_on_commit_callbacks)

    assert again.pk == first.pk
    assert balance(user) == 40_000
    assert len(transfers_posted(fake_stripe)) == 1
    with pytest.raises(Conflict):
        request_payout(actor=user, currency="usd", amount=20_000, request_key="same")


def test_request_keys_are_per_user(fake_stripe, django_capture_on_commit_callbacks):
    one, two = connected_freelancer(fake_stripe), connected_freelancer(fake_stripe)
    top_up(one, 5_000)
    top_up(two, 5_000)

    first = pay_out(one, 5_000, "payday", capture=django_capture_on_commit_callbacks)
    second = pay_out(two, 5_000, "payday", capture=django_capture_on_commit_callbacks)

    assert first.pk != second.pk
    assert (balance(one), balance(two)) == (0, 0)


# --- sending, retries, failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        lambda fake: fake.fail_next("/v1/transfers", 500),
        lambda fake: fake.fail_next("/v1/transfers", 429, "rate_limit_error"),
        lambda fake: fake.drop_next("/v1/transfers"),
    ],
    ids=["stripe-500", "rate-limited", "connection-dropped"],
)
def test_transient_failure_is_retried_after_the_backoff_and_then_pays(
    fake_stripe, django_capture_on_commit_callbacks, fault
):
    user = connected_freelancer(fake_stripe)
    top_up(user, 10_000)
    fault(fake_stripe)

    payout = pay_out(user, 10_000, capture=django_capture_on_commit_callbacks)

    assert payout.status == Payout.Status.RETRYING
    assert payout.attempts == 1
    assert payout.failure_message
    assert payout.next_attempt_at is not None
    wait = payout.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait <= timedelta(minutes=1)
    assert balance(user) == 0  # still on its way out: can't be spent twice

    assert retry_due_payouts() == 0  # not due yet
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_due_payouts(now=payout.next_attempt_at) == 1

    payout.refresh_from_db()
    assert (payout.status, payout.attempts, payout.failure_message) == (Payout.Status.PAID, 2, "")
    keys = {call.idempotency_key for call in transfers_posted(fake_stripe)}
    assert keys == {f"payout-{payout.pk}"}
    assert len(fake_stripe.of_kind("transfer")) == 1
    assert balance(user) == 0


def test_backoff_grows_fourfold_and_is_capped():
    assert [payouts.backoff(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=4),
        timedelta(minutes=16),
    ]
    assert payouts.backoff(30) == payouts.BACKOFF_CAP


def test_permanent_failure_returns_the_money_and_tells_the_freelancer(
    fake_stripe, django_capture_on_commit_callbacks, live_pushes, mailoutbox
):
    # Our copy says enabled, but Stripe has not activated transfers on the account.
    user = connected_freelancer(fake_stripe, enabled=False)
    account = account_of(user)
    sync_payout_account(
        account_id=account.account_id,
        info=AccountInfo(id=account.account_id, payouts_enabled=True, details_submitted=True),
    )
    top_up(user, 8_000)
    inbox = live_pushes(user.pk)

    payout = pay_out(user, 8_000, capture=django_capture_on_commit_callbacks)

    assert payout.status == Payout.Status.FAILED
    assert "capabilities" in payout.failure_message
    assert balance(user) == 8_000
    assert Transfer.objects.filter(idempotency_key=f"payout-return:{payout.pk}").count() == 1
    assert [p["notification"]["title"] for p in inbox.payloads()] == ["Payout failed"]
    assert [m.subject for m in mailoutbox] == ["Payout failed"]
    assert retry_due_payouts(now=timezone.now() + timedelta(days=1)) == 0


def test_transient_failures_give_up_after_the_last_attempt(
    fake_stripe, django_capture_on_commit_callbacks, settings
):
    settings.PAYOUT_MAX_ATTEMPTS = 3
    user = connected_freelancer(fake_stripe)
    top_up(user, 4_000)
    fake_stripe.fail_next("/v1/transfers", 503, times=3)

    payout = pay_out(user, 4_000, capture=django_capture_on_commit_callbacks)
    for _ in range(2):
        assert payout.next_attempt_at is not None
        with django_capture_on_commit_callbacks(execute=True):
            retry_due_payouts(now=payout.next_attempt_at)
        payout.refresh_from_db()

    assert (payout.status, payout.attempts) == (Payout.Status.FAILED, 3)
    assert balance(user) == 4_000
    assert len(transfers_posted(fake_stripe)) == 3


def test_a_payout_is_sent_once_however_often_the_task_runs(
    fake_stripe, django_capture_on_commit_callbacks
):
    user = connected_freelancer(fake_stripe)
    top_up(user, 4_000)

    payout = pay_out(user, 4_000, capture=django_capture_on_commit_callbacks)
    again = send_payout(payout_id=payout.pk)

    assert again.status == Payout.Status.PAID
    assert retry_due_payouts(now=timezone.now() + timedelta(hours=1)) == 0
    assert len(transfers_posted(fake_stripe)) == 1


def test_payout_left_sending_by_a_dead_worker_is_recovered_without_paying_twice(fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 6_000)
    payout = request_payout(actor=user, currency="usd", amount=6_000, request_key="k")
    # The worker claimed the payout and Stripe made the transfer, then the worker died
    # before recording it.
    started = timezone.now()
    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.SENDING, updated_at=started)
    payouts.card_provider().create_transfer(
        amount=6_000,
        currency="usd",
        destination=account_of(user).account_id,
        metadata={"payout_id": str(payout.pk), "user_id": str(user.pk)},
        idempotency_key=f"payout-{payout.pk}",
    )

    assert retry_due_payouts(now=started + timedelta(minutes=5)) == 0  # maybe still working
    assert retry_due_payouts(now=started + timedelta(minutes=11)) == 1

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert payout.provider_transfer_id == fake_stripe.of_kind("transfer")[0]["id"]
    assert len(fake_stripe.of_kind("transfer")) == 1
    assert balance(user) == 0


def test_a_payout_whose_task_never_ran_is_sent_by_the_retry(fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 6_000)
    # Without executing on-commit callbacks the send task is never queued (lost broker).
    payout = request_payout(actor=user, currency="usd", amount=6_000, request_key="k")

    assert retry_due_payouts() == 1

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID


# --- reversals ---------------------------------------------------------------------------------


def test_partial_then_full_reversal_returns_each_increase_once(
    fake_stripe, django_capture_on_commit_callbacks, live_pushes
):
    user = connected_freelancer(fake_stripe)
    top_up(user, 30_000)
    payout = pay_out(user, 30_000, capture=django_capture_on_commit_callbacks)
    transfer_id = payout.provider_transfer_id
    assert transfer_id
    inbox = live_pushes(user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        partial = reverse_payout(transfer_id=transfer_id, amount_reversed=10_000)
    assert partial is not None
    assert (partial.status, partial.reversed_amount, balance(user)) == ("paid", 10_000, 10_000)

    reverse_payout(transfer_id=transfer_id, amount_reversed=10_000)  # the same event again
    assert balance(user) == 10_000

    full = reverse_payout(transfer_id=transfer_id, amount_reversed=30_000)
    assert full is not None
    assert (full.status, full.reversed_amount, balance(user)) == ("reversed", 30_000, 30_000)

    reverse_payout(transfer_id=transfer_id, amount_reversed=10_000)  # an older event, late
    assert balance(user) == 30_000
    keys = set(
        Transfer.objects.filter(idempotency_key__startswith="reversal:").values_list(
            "idempotency_key", flat=True
        )
    )
    assert keys == {f"reversal:{payout.pk}:10000", f"reversal:{payout.pk}:30000"}
    assert [p["notification"]["title"] for p in inbox.payloads()] == ["Payout reversed"]


def test_reversal_of_a_transfer_we_did_not_make_is_ignored():
    assert reverse_payout(transfer_id="tr_unknown", amount_reversed=5_000) is None
    assert not Transfer.objects.exists()


# --- automatic weekly payouts ---------------------------------------------------------------------


def test_weekly_auto_payout_pays_each_balance_once_a_week(
    fake_stripe, django_capture_on_commit_callbacks
):
    auto = connected_freelancer(fake_stripe)
    set_auto_payout(actor=auto, enabled=True)
    top_up(auto, 25_000)
    top_up(auto, 3_000, currency="eur")
    top_up(auto, 500, currency="gbp")  # below the minimum: waits
    manual = connected_freelancer(fake_stripe)
    top_up(manual, 25_000)
    this_week = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        assert run_auto_payouts(now=this_week) == 2
        assert run_auto_payouts(now=this_week + timedelta(days=2)) == 0

    paid = Payout.objects.filter(user=auto).order_by("currency")
    assert [(p.currency, p.amount, p.status, p.automatic) for p in paid] == [
        ("eur", 3_000, "paid", True),
        ("usd", 25_000, "paid", True),
    ]
    year, week, _ = this_week.isocalendar()
    assert paid[1].request_key == f"{auto.pk}:auto:{year}-W{week:02d}:usd"
    assert (balance(manual), balance(auto, currency="gbp")) == (25_000, 500)

    top_up(auto, 7_000)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_auto_payouts(now=this_week + timedelta(weeks=1)) == 1
    assert balance(auto) == 0
    assert len(transfers_posted(fake_stripe)) == 3


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def run_in_threads(count: int, work) -> list:
    """``work(i)`` in ``count`` threads started together; returns results or refusals."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except DomainError as error:  # refusals are outcomes; anything else leaves None
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    with threads_running_eager_tasks():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_payout_requests_never_overdraw_the_balance(fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 25_000)

    results = run_in_threads(
        20,
        lambda i: request_payout(actor=user, currency="usd", amount=3_000, request_key=f"r{i}"),
    )

    paid = [r for r in results if isinstance(r, Payout)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert (len(paid), len(refused)) == (8, 12)
    assert balance(user) == 1_000
    assert Payout.objects.filter(status=Payout.Status.PAID).count() == 8
    assert sum(int(t["amount"]) for t in fake_stripe.of_kind("transfer")) == 24_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_with_one_key_make_one_payout(fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 25_000)

    results = run_in_threads(
        12,
        lambda i: request_payout(actor=user, currency="usd", amount=5_000, request_key="once"),
    )

    assert {r.pk for r in results if isinstance(r, Payout)} == {Payout.objects.get().pk}
    assert all(isinstance(r, Payout) for r in results), results
    assert balance(user) == 20_000
    assert len(fake_stripe.of_kind("transfer")) == 1
