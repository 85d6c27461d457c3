"""The workroom's money panel loads after the page: when a card payment is confirmed in
between, the milestone cards the page rendered are stale, and the panel's first load
asks for a reload (found by the browser journey in tests/e2e)."""

from __future__ import annotations

import re

import pytest
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from marketplace.models import Contract
from tests.escrow.money import card_contract, first_milestone, pay_by_card

pytestmark = pytest.mark.django_db


def panel(contract: Contract, shown: str) -> HttpResponseBase:
    client = Client()
    client.force_login(contract.client)
    url = reverse("escrow_contract_panel", args=[contract.pk])
    return client.get(url, {"shown": shown}, HTTP_HX_REQUEST="true")


def shown_by_workroom(contract: Contract) -> str:
    client = Client()
    client.force_login(contract.client)
    html = client.get(reverse("contract_workroom", args=[contract.pk])).content.decode()
    match = re.search(r'hx-vals=\'\{"shown": "([^"]*)"\}\'', html)
    assert match, "the workroom tells its panel which statuses it rendered"
    assert "#}" not in html  # template comments stay comments
    return match.group(1)


def test_panel_reloads_a_workroom_rendered_before_the_payment_was_confirmed() -> None:
    contract = card_contract()
    rendered = shown_by_workroom(contract)  # every milestone still a draft
    pay_by_card([first_milestone(contract)])

    assert panel(contract, rendered)["HX-Refresh"] == "true"


def test_panel_leaves_a_current_workroom_alone() -> None:
    contract = card_contract()
    pay_by_card([first_milestone(contract)])

    assert "HX-Refresh" not in panel(contract, shown_by_workroom(contract))
    assert "HX-Refresh" not in panel(contract, "not-a-list,,:")  # junk is ignored
