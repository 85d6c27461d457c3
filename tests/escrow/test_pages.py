"""Money pages: balances and payouts, the workroom's money panel and its buttons,
the statement page and the receipts."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from escrow import ledger
from escrow.models import EscrowHold, Funding, Payout, PayoutAccount, RefundRequest, Transfer
from escrow.rails import sandbox
from escrow.services import funding as funding_services
from escrow.services import payout_accounts
from escrow.services import payouts as payout_services
from escrow.services import refunds as refund_services
from escrow.services import release as release_services
from marketplace.models import Contract, Milestone
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


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html_of(response) -> str:
    return response.content.decode()


def notices(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def panel_url(contract: Contract) -> str:
    return reverse("escrow_contract_panel", args=[contract.pk])


def workroom(contract: Contract) -> str:
    return reverse("contract_workroom", args=[contract.pk])


def enabled_payout_account(user) -> PayoutAccount:
    """A connected account whose (sandbox) onboarding is finished."""
    return enable_payouts(user)


def fund_form(
    contract: Contract, *milestones: Milestone, source: str = "card", key: str = ""
) -> dict:
    return {
        "milestones": [m.pk for m in milestones],
        "source": source,
        "request_key": key or f"page-key-{contract.pk}-{source}",
    }


# --- navigation and the workroom container ------------------------------------------------


def test_navigation_links_to_money_for_logged_in_users(client):
    assert "/money/" not in html_of(client.get("/"))
    client.force_login(make_user())
    assert 'href="/money/"' in html_of(client.get("/"))


def test_money_pages_need_a_login(client):
    response = client.get(reverse("money"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_workroom_loads_the_money_panel_with_htmx_and_links_to_it_without_js():
    contract = card_contract()
    html = html_of(browser(contract.client).get(workroom(contract)))
    url = panel_url(contract)
    assert f'id="money-panel" hx-get="{url}" hx-trigger="load"' in html
    assert f'<a href="{url}">' in html


# --- the panel ------------------------------------------------------------------------------


def test_client_panel_offers_to_fund_draft_milestones_by_card_or_balance():
    contract = card_contract()
    top_up(contract.client, 5_000)
    response = browser(contract.client).get(panel_url(contract), HTTP_HX_REQUEST="true")
    html = html_of(response)
    assert response.status_code == 200
    assert "<html" not in html  # a fragment for htmx
    assert "Fund milestones" in html
    for milestone in contract.milestones.all():
        assert f'value="{milestone.pk}"' in html
        assert f"“{milestone.title}”" in html
    assert 'value="card"' in html
    assert 'value="balance"' in html
    assert "Your SmartPay balance: $50.00" in html
    assert 'name="request_key"' in html


def test_freelancer_panel_has_no_fund_button():
    contract = card_contract()
    html = html_of(browser(contract.freelancer).get(panel_url(contract), HTTP_HX_REQUEST="true"))
    assert "Fund milestones" not in html
    assert "Not funded yet." in html


def test_panel_without_htmx_is_a_whole_page_with_a_way_back():
    contract = card_contract()
    html = html_of(browser(contract.client).get(panel_url(contract)))
    assert "<html" in html
    assert f'href="{workroom(contract)}"' in html


def test_panel_of_someone_elses_contract_is_404():
    contract = card_contract()
    assert browser(verified_user()).get(panel_url(contract)).status_code == 404


def test_pending_card_payment_is_shown_in_words_and_polled():
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="pending"
    )
    html = html_of(browser(contract.client).get(panel_url(contract), HTTP_HX_REQUEST="true"))
    assert "Waiting for the card payment" in html
    assert 'hx-trigger="every 3s"' in html
    assert f'href="{reverse("escrow_funding_pay", args=[funding.pk])}"' in html
    assert reverse("escrow_funding_cancel", args=[funding.pk]) in html
    assert 'role="status"' in html
    # The other party sees the wait too, without the buttons.
    html = html_of(browser(contract.freelancer).get(panel_url(contract), HTTP_HX_REQUEST="true"))
    assert "Waiting for the card payment" in html
    assert reverse("escrow_funding_cancel", args=[funding.pk]) not in html


def test_poll_reloads_the_workroom_once_the_payment_went_through():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    response = browser(contract.client).get(
        panel_url(contract) + "?waiting=1", HTTP_HX_REQUEST="true"
    )
    assert response["HX-Refresh"] == "true"
    html = html_of(response)
    assert "every 3s" not in html
    assert "$1,000.00 is held in escrow while the freelancer works." in html


def test_frozen_escrow_is_explained_and_offers_no_money_buttons():
    milestone = submit(fund(first_milestone(card_contract())))
    EscrowHold.objects.create(milestone=milestone, reason="Card dispute (fraudulent)", cause="dp_1")
    html = html_of(
        browser(milestone.contract.client).get(
            panel_url(milestone.contract), HTTP_HX_REQUEST="true"
        )
    )
    assert "Escrow frozen" in html
    assert "Card dispute (fraudulent)" in html
    assert reverse("escrow_approve", args=[milestone.pk]) not in html


def test_release_and_refund_records_are_told_in_words():
    contract = card_contract()
    released, refunded = list(contract.milestones.order_by("position"))
    submit(fund(released))
    fund(refunded)
    release_services.approve_milestone(
        actor=contract.client, milestone_id=released.pk, amount=50_000
    )
    refund_services.refund_milestone(
        actor=contract.freelancer, milestone_id=refunded.pk, destination="balance"
    )
    html = html_of(browser(contract.client).get(panel_url(contract), HTTP_HX_REQUEST="true"))
    assert "$45,000.00" not in html
    assert "$450.00 to the freelancer (on hold until" in html
    assert "$50.00 platform fee, $500.00 back to the client." in html
    assert "Refund of $1,500.00 on" in html
    assert "(To the SmartPay balance): Refunded." in html


# --- the panel's buttons ------------------------------------------------------------------


def test_funding_by_card_goes_to_the_checkout_page():
    contract = card_contract()
    milestone = first_milestone(contract)
    response = browser(contract.client).post(
        reverse("escrow_fund", args=[contract.pk]), fund_form(contract, milestone)
    )
    funding = Funding.objects.get()
    assert funding.status == Funding.Status.PENDING
    assert response.status_code == 302
    assert response["Location"] == funding.checkout_url
    assert reverse("sandbox_checkout", args=[funding.payment_intent_id]) in funding.checkout_url


def test_funding_several_milestones_from_the_balance_funds_them_at_once():
    contract = card_contract()
    top_up(contract.client, 250_000)
    milestones = list(contract.milestones.all())
    response = browser(contract.client).post(
        reverse("escrow_fund", args=[contract.pk]),
        fund_form(contract, *milestones, source="balance"),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == workroom(contract)
    assert "$2,500.00 moved from your balance into escrow." in notices(response)
    assert set(contract.milestones.values_list("status", flat=True)) == {"funded"}
    assert balance(contract.client) == 0


def test_sending_the_fund_form_twice_pays_once():
    contract = card_contract()
    top_up(contract.client, 250_000)
    milestone = first_milestone(contract)
    page = browser(contract.client)
    form = fund_form(contract, milestone, source="balance", key="same-form-twice")
    page.post(reverse("escrow_fund", args=[contract.pk]), form)
    page.post(reverse("escrow_fund", args=[contract.pk]), form)
    assert Funding.objects.count() == 1
    assert balance(contract.client) == 150_000


def test_funding_more_than_the_balance_is_a_message_not_an_error():
    contract = card_contract()
    response = browser(contract.client).post(
        reverse("escrow_fund", args=[contract.pk]),
        fund_form(contract, first_milestone(contract), source="balance"),
        follow=True,
    )
    assert response.status_code == 200
    assert any("does not hold enough" in text for text in notices(response))
    assert not Transfer.objects.exists()
    assert first_milestone(contract).status == Milestone.Status.DRAFT


def test_fund_form_without_milestones_says_so():
    contract = card_contract()
    response = browser(contract.client).post(
        reverse("escrow_fund", args=[contract.pk]),
        {"source": "card", "request_key": "abcdefgh12"},
        follow=True,
    )
    assert any("Choose at least one milestone" in text for text in notices(response))
    assert not Funding.objects.exists()


def test_freelancer_cannot_fund_and_is_told_why():
    contract = card_contract()
    response = browser(contract.freelancer).post(
        reverse("escrow_fund", args=[contract.pk]),
        fund_form(contract, first_milestone(contract)),
        follow=True,
    )
    assert response.status_code == 200
    assert any("Only the client" in text for text in notices(response))
    assert not Funding.objects.exists()


def test_cancelling_a_card_payment():
    contract = card_contract()
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[first_milestone(contract).pk], request_key="c"
    )
    response = browser(contract.client).post(
        reverse("escrow_funding_cancel", args=[funding.pk]), follow=True
    )
    funding.refresh_from_db()
    assert funding.status == Funding.Status.CANCELED
    assert "The card payment was cancelled; nothing was charged." in notices(response)


def test_approve_and_release_part_of_a_milestone():
    milestone = submit(fund(first_milestone(card_contract())))
    contract = milestone.contract
    response = browser(contract.client).post(
        reverse("escrow_approve", args=[milestone.pk]), {"amount": "600.00"}, follow=True
    )
    assert response.redirect_chain[-1][0] == workroom(contract)
    assert (
        "Released $600.00 for “Milestone 1”: $540.00 to the freelancer after the $60.00 "
        "platform fee. $400.00 went back to your balance." in notices(response)
    )
    assert balance(contract.freelancer, "pending") == 54_000
    assert balance(contract.client) == 40_000


def test_approving_unsubmitted_work_is_a_message_and_moves_nothing():
    milestone = fund(first_milestone(card_contract()))
    before = Transfer.objects.count()
    response = browser(milestone.contract.client).post(
        reverse("escrow_approve", args=[milestone.pk]), {"amount": ""}, follow=True
    )
    assert response.status_code == 200
    assert any("Only submitted work can be approved" in text for text in notices(response))
    assert Transfer.objects.count() == before


def test_approve_with_an_amount_that_is_not_money_is_a_form_error():
    milestone = submit(fund(first_milestone(card_contract())))
    response = browser(milestone.contract.client).post(
        reverse("escrow_approve", args=[milestone.pk]), {"amount": "12.345"}, follow=True
    )
    assert any("at most 2 decimal places" in text for text in notices(response))
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.SUBMITTED


def test_client_requests_a_refund_and_withdraws_it():
    milestone = fund(first_milestone(card_contract()))
    contract = milestone.contract
    page = browser(contract.client)
    response = page.post(
        reverse("escrow_refund_request", args=[milestone.pk]),
        {"reason": "The project was cancelled.", "destination": "balance"},
        follow=True,
    )
    assert any(text.startswith("Refund requested.") for text in notices(response))
    request = RefundRequest.objects.get()
    panel = html_of(page.get(panel_url(contract), HTTP_HX_REQUEST="true"))
    assert "Refund requested" in panel
    assert "The project was cancelled." in panel
    page.post(reverse("escrow_refund_request_withdraw", args=[request.pk]))
    request.refresh_from_db()
    assert request.status == RefundRequest.Status.WITHDRAWN
    assert escrow_of(milestone) == 100_000


def test_freelancer_accepts_a_refund_request_from_the_panel():
    milestone = fund(first_milestone(card_contract()))
    contract = milestone.contract
    refund_services.request_refund(
        actor=contract.client, milestone_id=milestone.pk, reason="Cancelled", destination="balance"
    )
    page = browser(contract.freelancer)
    panel = html_of(page.get(panel_url(contract), HTTP_HX_REQUEST="true"))
    assert "Accept and refund $1,000.00" in panel
    assert "Decline the refund request" in panel
    response = page.post(reverse("escrow_refund", args=[milestone.pk]), follow=True)
    assert "Refunded $1,000.00 for “Milestone 1” (To the SmartPay balance)." in notices(response)
    assert balance(contract.client) == 100_000


def test_freelancer_declines_a_refund_request():
    milestone = fund(first_milestone(card_contract()))
    contract = milestone.contract
    request = refund_services.request_refund(
        actor=contract.client, milestone_id=milestone.pk, reason="Cancelled"
    )
    response = browser(contract.freelancer).post(
        reverse("escrow_refund_request_decline", args=[request.pk]), follow=True
    )
    request.refresh_from_db()
    assert request.status == RefundRequest.Status.DECLINED
    assert "Refund request declined. The client may open a dispute instead." in notices(response)


def test_panel_buttons_only_answer_post():
    milestone = fund(first_milestone(card_contract()))
    page = browser(milestone.contract.client)
    assert page.get(reverse("escrow_approve", args=[milestone.pk])).status_code == 405


def test_unverified_user_is_sent_to_verify_before_moving_money():
    contract = card_contract()
    EmailAddress.objects.filter(user=contract.client).update(verified=False)
    response = browser(contract.client).post(
        reverse("escrow_fund", args=[contract.pk]), fund_form(contract, first_milestone(contract))
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email")
    assert not Funding.objects.exists()


# --- /money/ --------------------------------------------------------------------------------


def test_money_page_shows_balances_and_when_pending_money_becomes_available():
    milestone = submit(fund(first_milestone(card_contract())))
    contract = milestone.contract
    release = release_services.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    html = html_of(browser(contract.freelancer).get(reverse("money")))
    assert "<caption>Your balances per currency</caption>" in html
    assert "$900.00" in html
    day = release.available_at.strftime("%-d %b %Y")
    assert "$900.00 from “Milestone 1” becomes available on" in html
    assert day in html
    assert "Connect a payout account" in html


def test_money_page_for_a_client_shows_escrow_and_receipts():
    contract = card_contract()
    funding = pay_by_card([first_milestone(contract)])
    html = html_of(browser(contract.client).get(reverse("money")))
    assert "$1,000.00" in html  # in escrow for their milestones
    assert reverse("money_funding_receipt", args=[funding.pk]) in html
    assert "Payout account" not in html  # a client with nothing to pay out


def test_connect_button_sends_the_freelancer_to_onboarding():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    response = browser(freelancer).post(reverse("money_payout_connect"))
    account = PayoutAccount.objects.get(user=freelancer)
    assert response.status_code == 302
    assert reverse("sandbox_onboarding", args=[account.account_id]) in response["Location"]


def test_connect_is_refused_in_words_for_a_client():
    client_user = verified_user(is_client=True, is_freelancer=False)
    response = browser(client_user).post(reverse("money_payout_connect"), follow=True)
    assert "Only freelancers receive payouts." in notices(response)
    assert not PayoutAccount.objects.exists()


def test_back_from_onboarding_the_status_is_fetched_and_shown():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    payout_accounts.connect_payout_account(actor=freelancer, return_url="/", refresh_url="/")
    account = PayoutAccount.objects.get(user=freelancer)
    sandbox.complete_onboarding(account.account_id)
    page = browser(freelancer)
    response = page.get(reverse("money_payout_return"), follow=True)
    assert "Your payout account is ready: you can request payouts." in notices(response)
    account.refresh_from_db()
    assert account.payouts_enabled
    html = html_of(response)
    assert "Ready for payouts" in html
    assert "Request payout" in html


def test_weekly_auto_payout_toggle():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    account = enabled_payout_account(freelancer)
    page = browser(freelancer)
    response = page.post(reverse("money_auto_payout"), {"enabled": "on"}, follow=True)
    assert "Weekly automatic payouts are on." in notices(response)
    account.refresh_from_db()
    assert account.auto_payout_weekly
    page.post(reverse("money_auto_payout"), {})
    account.refresh_from_db()
    assert not account.auto_payout_weekly


def test_requesting_a_payout_from_the_page():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    enabled_payout_account(freelancer)
    top_up(freelancer, 20_000)
    response = browser(freelancer).post(
        reverse("money_payout_request"),
        {"currency": "usd", "amount": "150", "request_key": "payout-form-1"},
        follow=True,
    )
    assert "Payout of $150.00 requested: queued." in notices(response)
    payout = Payout.objects.get()
    assert payout.amount == 15_000
    assert balance(freelancer) == 5_000
    html = html_of(response)
    assert "Payout history" in html
    assert reverse("money_payout_receipt", args=[payout.pk]) in html


def test_payout_below_the_minimum_is_a_message_and_takes_nothing(settings):
    settings.PAYOUT_MINIMUM = 1_000
    freelancer = verified_user(is_client=False, is_freelancer=True)
    enabled_payout_account(freelancer)
    top_up(freelancer, 20_000)
    response = browser(freelancer).post(
        reverse("money_payout_request"),
        {"currency": "usd", "amount": "5", "request_key": "payout-form-2"},
        follow=True,
    )
    assert "The smallest payout is $10.00." in notices(response)
    assert not Payout.objects.exists()
    assert balance(freelancer) == 20_000


def test_failed_and_retrying_payouts_show_their_reasons():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    account = enabled_payout_account(freelancer)
    common = {"user": freelancer, "account": account, "currency": "usd", "amount": 5_000}
    Payout.objects.create(
        **common,
        request_key="r1",
        status=Payout.Status.RETRYING,
        attempts=2,
        failure_message="Stripe timed out",
    )
    Payout.objects.create(
        **common, request_key="r2", status=Payout.Status.FAILED, failure_message="Account closed"
    )
    html = html_of(browser(freelancer).get(reverse("money")))
    assert "Failed — will retry" in html
    assert "Attempt 2 failed: Stripe timed out." in html
    assert "Account closed The money is back in your available balance." in html


# --- statement ------------------------------------------------------------------------------


def test_statement_page_lists_lines_in_words_with_filters_and_csv_link():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    page = browser(contract.client)
    response = page.get(reverse("money_transactions"))
    html = html_of(response)
    assert "<caption>Statement lines</caption>" in html
    assert "Card payment for “Milestone 1”" in html
    assert "Funded milestone “Milestone 1”" in html
    assert "+$1,000.00" in html
    assert "\u2212$1,000.00" in html
    assert '<label for="id_currency">Currency</label>' in html
    assert 'href="/money/transactions/?format=csv" download' in html
    filtered = html_of(page.get(reverse("money_transactions"), {"currency": "eur"}))
    assert "No transactions match these filters." in filtered
    assert "currency=eur&amp;format=csv" in filtered


def test_statement_page_downloads_csv():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    response = browser(contract.client).get(reverse("money_transactions"), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = streamed(response)
    lines = body.strip().splitlines()
    assert lines[0] == "date,description,type,account,currency,amount,balance_after,reference"
    assert len(lines) == 3
    assert ",funding,available,USD,-1000.00,0.00," in lines[1]


def test_statement_page_ignores_a_bad_filter_and_says_so():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    response = browser(contract.client).get(reverse("money_transactions"), {"since": "nope"})
    html = html_of(response)
    assert response.status_code == 200
    assert "Enter a valid date." in html
    assert "2 transactions" in html


# --- receipts -------------------------------------------------------------------------------


def test_funding_receipt_lists_parties_milestones_amounts_fee_and_references():
    contract = card_contract()
    funding = pay_by_card(list(contract.milestones.all()))
    response = browser(contract.client).get(reverse("money_funding_receipt", args=[funding.pk]))
    html = html_of(response)
    assert f"Receipt for payment {funding.pk}" in html
    assert contract.client.display_name in html
    assert contract.freelancer.display_name in html
    assert "1. Milestone 1" in html
    assert "2. Milestone 2" in html
    assert "$2,500.00" in html
    assert "Fee charged to you" in html
    assert "10 %" in html
    assert str(funding.payment_intent_id) in html
    assert 'class="receipt"' in html
    assert "<script" not in html.split('class="receipt"')[1]
    assert re.search(r"Paid</dt><dd><time", html)


def test_receipts_are_private():
    contract = card_contract()
    funding = pay_by_card([first_milestone(contract)])
    url = reverse("money_funding_receipt", args=[funding.pk])
    assert browser(contract.freelancer).get(url).status_code == 404
    assert browser(verified_user()).get(url).status_code == 404


def test_payout_receipt():
    freelancer = verified_user(is_client=False, is_freelancer=True)
    enabled_payout_account(freelancer)
    top_up(freelancer, 20_000)
    payout = payout_services.request_payout(
        actor=freelancer, currency="usd", amount=None, request_key="all"
    )
    url = reverse("money_payout_receipt", args=[payout.pk])
    html = html_of(browser(freelancer).get(url))
    assert f"Receipt for payout {payout.pk}" in html
    assert "$200.00" in html
    assert payout.account.account_id in html
    assert "Payout fee" in html
    assert browser(verified_user()).get(url).status_code == 404


def test_money_numbers_add_up_after_the_page_flows():
    """The pages only call services: whatever they did, the ledger is sound."""
    contract = card_contract()
    top_up(contract.client, 250_000)
    page = browser(contract.client)
    milestone = first_milestone(contract)
    page.post(
        reverse("escrow_fund", args=[contract.pk]), fund_form(contract, milestone, source="balance")
    )
    submit(Milestone.objects.get(pk=milestone.pk))
    page.post(reverse("escrow_approve", args=[milestone.pk]), {"amount": ""})
    assert balance(contract.freelancer, "pending") == 90_000
    assert ledger.find_problems() == []
