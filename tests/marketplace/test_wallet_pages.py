"""The Wallets page: list, connect button, make primary, unlink (after a recent login)."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.urls import reverse
from eth_account import Account

from marketplace.models import Wallet
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NO_WALLET = (
    "No browser wallet found. Install MetaMask or another Ethereum wallet, then reload this page."
)


def _wallet(user, *, primary: bool = False) -> Wallet:
    return Wallet.objects.create(user=user, address=Account.create().address, is_primary=primary)


def test_wallets_page_needs_a_login(client):
    response = client.get("/accounts/wallets/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(settings.LOGIN_URL))


def test_wallets_page_lists_wallets_with_their_state_in_words(client, user, other_user):
    primary = _wallet(user, primary=True)
    spare = _wallet(user)
    theirs = _wallet(other_user, primary=True)
    client.force_login(user)
    response = client.get(reverse("wallets"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Wallets · SmartPay</title>" in html
    assert primary.address in html
    assert spare.address in html
    assert theirs.address not in html
    assert "Primary" in html
    assert html.count("Linked on ") == 2
    assert html.index(primary.address) < html.index(spare.address)
    assert reverse("wallet_make_primary", args=[spare.pk]) in html
    assert reverse("wallet_make_primary", args=[primary.pk]) not in html
    assert reverse("wallet_unlink", args=[primary.pk]) in html


def test_wallets_page_has_a_connect_button_wired_to_the_api_without_inline_script(client, user):
    client.force_login(user)
    html = client.get(reverse("wallets")).content.decode()
    assert "No wallet is linked to your account yet." in html
    assert "Connect wallet" in html
    assert 'data-nonce-url="/api/v1/wallets/nonce/"' in html
    assert 'data-verify-url="/api/v1/wallets/verify/"' in html
    assert 'aria-live="polite"' in html
    assert re.search(r'<script src="/static/js/wallet\.js" defer></script>', html)
    # The CSP forbids inline scripts: every <script> must load a file.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


def test_wallet_script_speaks_eip_1193_and_explains_a_missing_wallet():
    script = (settings.BASE_DIR / "static" / "js" / "wallet.js").read_text()
    assert "eth_requestAccounts" in script
    assert "personal_sign" in script
    assert "X-CSRFToken" in script
    assert NO_WALLET in script


def test_make_primary_from_the_page(client, user):
    old = _wallet(user, primary=True)
    new = _wallet(user)
    client.force_login(user)
    response = client.post(reverse("wallet_make_primary", args=[new.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("wallets")
    assert f"{new.address} is now your primary wallet." in response.content.decode()
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.is_primary, new.is_primary) == (False, True)


def test_page_actions_are_posts(client, user):
    wallet = _wallet(user)
    client.force_login(user)
    assert client.get(reverse("wallet_make_primary", args=[wallet.pk])).status_code == 405
    assert client.get(reverse("wallet_unlink", args=[wallet.pk])).status_code == 405


def test_unlink_without_a_recent_login_sends_you_to_reauthenticate(client, user):
    wallet = _wallet(user, primary=True)
    client.force_login(user)
    response = client.post(reverse("wallet_unlink", args=[wallet.pk]))
    assert response.status_code == 302
    assert (
        response["Location"] == f"{reverse('account_reauthenticate')}?next=%2Faccounts%2Fwallets%2F"
    )
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_unlink_right_after_logging_in_through_allauth(client, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    wallet = _wallet(user, primary=True)
    login = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert login.status_code == 302
    response = client.post(reverse("wallet_unlink", args=[wallet.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("wallets")
    assert f"{wallet.address} is no longer linked to your account." in response.content.decode()
    assert not Wallet.objects.filter(pk=wallet.pk).exists()


def test_someone_elses_wallet_is_not_found_from_the_page(client, user, other_user):
    theirs = _wallet(other_user, primary=True)
    client.force_login(user)
    assert client.post(reverse("wallet_make_primary", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("wallet_unlink", args=[theirs.pk])).status_code == 404
    assert Wallet.objects.filter(pk=theirs.pk, user=other_user, is_primary=True).exists()
