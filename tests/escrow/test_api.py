"""Escrow API: fund, approve, refund, refund requests, balances, statement, payouts.

Money POSTs honour Idempotency-Key; errors are {"code", "detail"}; other people's
objects are 404 and leave everything as it was."""

from __future__ import annotations

import csv
import io

import pytest
from allauth.account.models import EmailAddress
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from escrow.models import Funding, Payout, PayoutAccount, RefundRequest, Release, Transfer
from escrow.services import funding as funding_services
from escrow.services import refunds as refund_services
from marketplace.models import Milestone
from tests.escrow.money import (
    balance,
    card_contract,
    enable_payouts,
    escrow_of,
    first_milestone,
    fund,
    pay_by_card,
    streamed,
    submit,
    top_up,
)
from tests.factories import make_user, verified_user

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def error(response) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"code", "detail"}, body
    return response.status_code, body["code"]


def nothing_moved() -> bool:
    return not Transfer.objects.exists()


def enabled_payout_account(user) -> PayoutAccount:
    return enable_payouts(user)


# --- funding --------------------------------------------------------------------------------


def test_fund_by_card_answers_with_the_pending_funding_and_where_to_pay():
    contract = card_contract()
    milestone = first_milestone(contract)
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/fund/", {"source": "card"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["status_display"] == "Waiting for the card payment"
    assert body["amount"] == 100_000
    assert body["amount_display"] == "$1,000.00"
    assert body["checkout_url"].endswith(f"/sandbox/checkout/{body['payment_intent_id']}/")
    assert body["client_secret"]
    assert body["items"] == [
        {"milestone": milestone.pk, "title": "Milestone 1", "amount": 100_000, "applied": False}
    ]
    assert body["receipt_url"].endswith(f"/money/fundings/{body['id']}/receipt/")
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DRAFT
    assert nothing_moved()


def test_fund_with_the_same_idempotency_key_returns_the_first_funding():
    contract = card_contract()
    url = f"/api/v1/milestones/{first_milestone(contract).pk}/fund/"
    client = api_for(contract.client)
    first = client.post(url, {"source": "card"}, HTTP_IDEMPOTENCY_KEY="fund-once")
    again = client.post(url, {"source": "card"}, HTTP_IDEMPOTENCY_KEY="fund-once")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Funding.objects.count() == 1
    assert Funding.objects.get().request_key.endswith(":fund-once")


def test_same_idempotency_key_with_another_body_is_a_409():
    contract = card_contract()
    top_up(contract.client, 100_000)
    url = f"/api/v1/milestones/{first_milestone(contract).pk}/fund/"
    client = api_for(contract.client)
    client.post(url, {"source": "card"}, HTTP_IDEMPOTENCY_KEY="k1")
    before = Transfer.objects.count()
    response = client.post(url, {"source": "balance"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert error(response) == (409, "idempotency_key_reused")
    assert Transfer.objects.count() == before
    assert balance(contract.client) == 100_000


def test_fund_from_balance_funds_at_once():
    contract = card_contract()
    top_up(contract.client, 100_000)
    milestone = first_milestone(contract)
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/fund/", {"source": "balance"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"
    assert response.json()["items"][0]["applied"] is True
    assert escrow_of(milestone) == 100_000
    assert balance(contract.client) == 0


def test_fund_from_an_empty_balance_is_a_409_and_moves_nothing():
    contract = card_contract()
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{first_milestone(contract).pk}/fund/", {"source": "balance"}
    )
    assert error(response) == (409, "insufficient_funds")
    assert nothing_moved()
    assert not Funding.objects.exists()


def test_funding_someone_elses_milestone_is_404_and_creates_nothing():
    contract = card_contract()
    response = api_for(verified_user()).post(
        f"/api/v1/milestones/{first_milestone(contract).pk}/fund/", {"source": "nonsense"}
    )
    assert error(response) == (404, "not_found")
    assert not Funding.objects.exists()


def test_freelancer_cannot_fund():
    contract = card_contract()
    response = api_for(contract.freelancer).post(
        f"/api/v1/milestones/{first_milestone(contract).pk}/fund/", {}
    )
    assert error(response) == (403, "permission_denied")
    assert not Funding.objects.exists()


def test_funding_needs_a_verified_email():
    contract = card_contract()
    EmailAddress.objects.filter(user=contract.client).update(verified=False)
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{first_milestone(contract).pk}/fund/", {}
    )
    assert error(response) == (403, "email_unverified")


def test_fund_several_milestones_in_one_payment():
    contract = card_contract()
    ids = sorted(contract.milestones.values_list("pk", flat=True))
    response = api_for(contract.client).post(
        "/api/v1/fundings/", {"milestones": ids, "source": "card"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["amount"] == 250_000
    assert [item["milestone"] for item in body["items"]] == ids


def test_fund_several_refuses_an_empty_list():
    contract = card_contract()
    response = api_for(contract.client).post("/api/v1/fundings/", {"milestones": []})
    assert error(response) == (400, "invalid")


def test_fundings_list_and_detail_show_only_your_own():
    contract = card_contract()
    funding = pay_by_card([first_milestone(contract)])
    mine = api_for(contract.client).get("/api/v1/fundings/").json()
    assert [row["id"] for row in mine["results"]] == [funding.pk]
    assert mine["results"][0]["status"] == "succeeded"
    assert api_for(contract.freelancer).get("/api/v1/fundings/").json()["count"] == 0
    detail = api_for(contract.client).get(f"/api/v1/fundings/{funding.pk}/")
    assert detail.json()["items"][0]["applied"] is True
    assert api_for(verified_user()).get(f"/api/v1/fundings/{funding.pk}/").status_code == 404


def test_cancel_a_pending_card_payment():
    contract = card_contract()
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[first_milestone(contract).pk], request_key="x"
    )
    response = api_for(contract.client).post(f"/api/v1/fundings/{funding.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    stranger = api_for(verified_user()).post(f"/api/v1/fundings/{funding.pk}/cancel/")
    assert stranger.status_code == 404


def test_a_paid_funding_cannot_be_cancelled():
    contract = card_contract()
    funding = pay_by_card([first_milestone(contract)])
    response = api_for(contract.client).post(f"/api/v1/fundings/{funding.pk}/cancel/")
    assert error(response) == (409, "funding_closed")


# --- approve ----------------------------------------------------------------------------------


def test_approve_releases_part_and_returns_the_rest():
    milestone = submit(fund(first_milestone(card_contract())))
    contract = milestone.contract
    response = api_for(contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/approve/", {"amount": 60_000}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["amount"], body["fee"], body["freelancer_amount"], body["returned_amount"]) == (
        60_000,
        6_000,
        54_000,
        40_000,
    )
    assert body["fee_display"] == "$60.00"
    assert body["status"] == "pending"
    assert balance(contract.freelancer, "pending") == 54_000
    assert balance(contract.client) == 40_000


def test_approving_twice_is_a_409_and_moves_money_once():
    milestone = submit(fund(first_milestone(card_contract())))
    client = api_for(milestone.contract.client)
    assert client.post(f"/api/v1/milestones/{milestone.pk}/approve/", {}).status_code == 201
    before = Transfer.objects.count()
    again = client.post(f"/api/v1/milestones/{milestone.pk}/approve/", {})
    assert error(again) == (409, "invalid_transition")
    assert Transfer.objects.count() == before
    assert Release.objects.count() == 1


def test_approving_more_than_is_held_is_a_400():
    milestone = submit(fund(first_milestone(card_contract())))
    response = api_for(milestone.contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/approve/", {"amount": 100_001}
    )
    assert error(response) == (400, "invalid_release_amount")
    assert escrow_of(milestone) == 100_000


def test_approve_replayed_with_its_key_answers_the_same_release():
    milestone = submit(fund(first_milestone(card_contract())))
    client = api_for(milestone.contract.client)
    url = f"/api/v1/milestones/{milestone.pk}/approve/"
    first = client.post(url, {}, HTTP_IDEMPOTENCY_KEY="approve-1")
    again = client.post(url, {}, HTTP_IDEMPOTENCY_KEY="approve-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Release.objects.count() == 1


# --- refunds ------------------------------------------------------------------------------


def test_freelancer_refunds_to_the_card():
    milestone = fund(first_milestone(card_contract()))
    response = api_for(milestone.contract.freelancer).post(
        f"/api/v1/milestones/{milestone.pk}/refund/", {}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["destination"], body["status"], body["amount"]) == ("card", "pending", 100_000)
    assert escrow_of(milestone) == 0


def test_client_cannot_refund_on_their_own():
    milestone = fund(first_milestone(card_contract()))
    response = api_for(milestone.contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/refund/", {}
    )
    assert error(response) == (403, "permission_denied")
    assert escrow_of(milestone) == 100_000


def test_refund_request_then_withdraw_and_decline():
    contract = card_contract()
    first, second = (fund(m) for m in contract.milestones.order_by("position"))
    client, freelancer = api_for(contract.client), api_for(contract.freelancer)
    made = client.post(
        f"/api/v1/milestones/{first.pk}/refund-request/",
        {"reason": "Cancelled", "destination": "balance"},
    )
    assert made.status_code == 201
    assert made.json()["status"] == "open"
    request_id = made.json()["id"]
    # Only the freelancer declines, only the client withdraws.
    assert error(client.post(f"/api/v1/refund-requests/{request_id}/decline/")) == (
        403,
        "permission_denied",
    )
    withdrawn = client.post(f"/api/v1/refund-requests/{request_id}/withdraw/")
    assert withdrawn.json()["status"] == "withdrawn"

    second_request = refund_services.request_refund(
        actor=contract.client, milestone_id=second.pk, reason="Again"
    )
    declined = freelancer.post(f"/api/v1/refund-requests/{second_request.pk}/decline/")
    assert declined.json()["status_display"] == "Declined by the freelancer"
    assert escrow_of(first) == 100_000
    assert escrow_of(second) == 150_000


def test_refund_request_needs_a_reason():
    milestone = fund(first_milestone(card_contract()))
    response = api_for(milestone.contract.client).post(
        f"/api/v1/milestones/{milestone.pk}/refund-request/", {"reason": ""}
    )
    assert error(response) == (400, "invalid")
    assert not RefundRequest.objects.exists()


def test_someone_elses_refund_request_is_404():
    milestone = fund(first_milestone(card_contract()))
    request = refund_services.request_refund(
        actor=milestone.contract.client, milestone_id=milestone.pk, reason="x"
    )
    response = api_for(verified_user()).post(f"/api/v1/refund-requests/{request.pk}/withdraw/")
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == RefundRequest.Status.OPEN


# --- balances and statement ------------------------------------------------------------------


def test_balances():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    top_up(contract.client, 500)
    body = api_for(contract.client).get("/api/v1/ledger/balances/").json()
    assert body == [
        {
            "currency": "usd",
            "available": 500,
            "available_display": "$5.00",
            "pending": 0,
            "pending_display": "$0.00",
            "in_escrow": 100_000,
            "in_escrow_display": "$1,000.00",
            "incoming": 0,
            "incoming_display": "$0.00",
            "next_available_at": None,
            "pending_releases": [],
        }
    ]


def test_balances_need_a_login(api):
    assert error(api.get("/api/v1/ledger/balances/")) == (401, "not_authenticated")


def test_transactions_are_paginated_lines_in_words():
    contract = card_contract()
    pay_by_card(list(contract.milestones.all()))
    body = api_for(contract.client).get("/api/v1/ledger/transactions/", {"page_size": 2}).json()
    assert body["count"] == 3
    assert body["next"]
    first = body["results"][0]
    assert first["description"] == "Funded milestone “Milestone 2”"
    assert (first["amount"], first["amount_display"]) == (-150_000, "\u2212$1,500.00")
    assert (first["account_kind"], first["balance_after"]) == ("available", 0)
    assert first["type"] == "funding"
    page_two = api_for(contract.client).get(body["next"]).json()
    assert page_two["results"][0]["description"].startswith("Card payment for")
    assert page_two["results"][0]["balance_after"] == 250_000


def test_transactions_filters_and_bad_filters():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    client = api_for(contract.client)
    assert client.get("/api/v1/ledger/transactions/", {"currency": "eur"}).json()["count"] == 0
    assert client.get("/api/v1/ledger/transactions/", {"kind": "pending"}).json()["count"] == 0
    assert client.get("/api/v1/ledger/transactions/", {"since": "2000-01-01"}).json()["count"] == 2
    assert error(client.get("/api/v1/ledger/transactions/", {"kind": "escrow"})) == (400, "invalid")
    bad_range = client.get(
        "/api/v1/ledger/transactions/", {"since": "2026-02-02", "until": "2026-02-01"}
    )
    assert error(bad_range) == (400, "invalid")


@pytest.mark.parametrize(
    ("query", "headers"),
    [({"format": "csv"}, {}), ({}, {"HTTP_ACCEPT": "text/csv"})],
    ids=["format-param", "accept-header"],
)
def test_transactions_as_csv(query, headers):
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    response = api_for(contract.client).get("/api/v1/ledger/transactions/", query, **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(streamed(response))))
    assert rows[0][:3] == ["date", "description", "type"]
    assert [row[5] for row in rows[1:]] == ["-1000.00", "1000.00"]


def test_csv_with_a_bad_filter_is_a_400():
    response = api_for(verified_user()).get(
        "/api/v1/ledger/transactions/", {"format": "csv", "kind": "bogus"}
    )
    assert response.status_code == 400
    assert b"invalid" in response.content


# --- payouts ---------------------------------------------------------------------------------


def test_payout_before_onboarding_is_refused():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    top_up(freelancer, 50_000)
    response = api_for(freelancer).post("/api/v1/payouts/", {"currency": "usd"})
    assert error(response) == (409, "payouts_not_enabled")
    assert balance(freelancer) == 50_000


def test_payout_of_the_whole_balance_then_list_and_detail():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    enabled_payout_account(freelancer)
    top_up(freelancer, 50_000)
    client = api_for(freelancer)
    response = client.post("/api/v1/payouts/", {"currency": "usd"}, HTTP_IDEMPOTENCY_KEY="po-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["amount"], body["status"], body["status_display"]) == (50_000, "queued", "Queued")
    assert body["receipt_url"].endswith(f"/money/payouts/{body['id']}/receipt/")
    assert balance(freelancer) == 0
    replay = client.post("/api/v1/payouts/", {"currency": "usd"}, HTTP_IDEMPOTENCY_KEY="po-1")
    assert replay.json()["id"] == body["id"]
    assert Payout.objects.count() == 1
    assert [row["id"] for row in client.get("/api/v1/payouts/").json()["results"]] == [body["id"]]
    assert client.get(f"/api/v1/payouts/{body['id']}/").json()["amount_display"] == "$500.00"
    assert api_for(verified_user()).get(f"/api/v1/payouts/{body['id']}/").status_code == 404


def test_payout_of_more_than_available_is_a_409():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    enabled_payout_account(freelancer)
    top_up(freelancer, 5_000)
    response = api_for(freelancer).post("/api/v1/payouts/", {"currency": "usd", "amount": 6_000})
    assert error(response) == (409, "insufficient_funds")
    assert not Payout.objects.exists()


def test_payout_in_a_chain_currency_is_a_400():
    response = api_for(verified_user()).post("/api/v1/payouts/", {"currency": "eth"})
    assert error(response) == (400, "unsupported_currency")


def test_payout_account_onboarding_and_weekly_setting():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    client = api_for(freelancer)
    assert error(client.get("/api/v1/payout-account/")) == (404, "no_payout_account")
    assert error(client.patch("/api/v1/payout-account/", {"auto_payout_weekly": True})) == (
        409,
        "no_payout_account",
    )
    started = client.post("/api/v1/payout-account/")
    assert started.status_code == 200
    account = PayoutAccount.objects.get(user=freelancer)
    assert f"/sandbox/onboarding/{account.account_id}/" in started.json()["onboarding_url"]
    shown = client.get("/api/v1/payout-account/").json()
    assert (shown["status"], shown["payouts_enabled"]) == ("onboarding", False)
    changed = client.patch("/api/v1/payout-account/", {"auto_payout_weekly": True})
    assert changed.json()["auto_payout_weekly"] is True


def test_only_freelancers_get_a_payout_account():
    response = api_for(verified_user(is_freelancer=False)).post("/api/v1/payout-account/")
    assert error(response) == (403, "not_freelancer")


def test_reads_need_only_a_login_but_money_posts_a_verified_email():
    unverified = make_user()
    client = api_for(unverified)
    assert client.get("/api/v1/ledger/transactions/").status_code == 200
    assert client.get("/api/v1/payouts/").status_code == 200
    assert error(client.post("/api/v1/payouts/", {"currency": "usd"})) == (403, "email_unverified")


def test_money_posts_are_throttled_but_reads_are_not(monkeypatch):
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "money": "2/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    client = api_for(verified_user())
    posts = [client.post("/api/v1/payouts/", {"currency": "usd"}).status_code for _ in range(3)]
    reads = [client.get("/api/v1/payouts/").status_code for _ in range(3)]
    assert posts == [409, 409, 429]
    assert reads == [200, 200, 200]
