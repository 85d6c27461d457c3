"""Sign-In with Ethereum over the API: link wallets, log in with them, refuse bad messages.

Messages are signed for real with eth_account keys; nothing in siwe is faked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from rest_framework.test import APIClient

from marketplace import wallets
from marketplace.models import SiweNonce, Wallet
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

NONCE_URL = "/api/v1/wallets/nonce/"
VERIFY_URL = "/api/v1/wallets/verify/"


def sign(account: LocalAccount, message: str) -> str:
    signed = Account.sign_message(encode_defunct(text=message), account.key)
    return signed.signature.to_0x_hex()


def ask_for_message(client: APIClient, address: str) -> dict[str, Any]:
    response = client.post(NONCE_URL, {"address": address})
    assert response.status_code == 200, response.content
    return response.json()


def sign_in(client: APIClient, account: LocalAccount) -> Any:
    issued = ask_for_message(client, account.address)
    body = {"message": issued["message"], "signature": sign(account, issued["message"])}
    return client.post(VERIFY_URL, body)


def logged_in_user_id(client: APIClient) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id else None


def test_nonce_comes_with_the_whole_message_for_the_checksummed_address(api):
    account = Account.create()
    issued = ask_for_message(api, account.address.lower())
    message = issued["message"]
    assert message.startswith("testserver wants you to sign in with your Ethereum account:\n")
    assert f"\n{account.address}\n" in message  # EIP-55 spelling, whatever was sent
    assert f"Nonce: {issued['nonce']}" in message
    assert "Chain ID: 31337" in message
    assert "URI: http://testserver/" in message
    assert "Expiration Time: " in message
    assert issued["domain"] == "testserver"
    assert issued["chain_id"] == 31337
    nonce = SiweNonce.objects.get(nonce=issued["nonce"])
    assert nonce.used_at is None
    assert nonce.expires_at > timezone.now()


@override_settings(SIWE_DOMAIN="pay.example.com", CHAIN_ID=11155111)
def test_message_names_the_configured_domain_and_chain(api):
    issued = ask_for_message(api, Account.create().address)
    assert issued["message"].startswith("pay.example.com wants you to sign in")
    assert "Chain ID: 11155111" in issued["message"]
    assert issued["domain"] == "pay.example.com"


@pytest.mark.parametrize("address", ["", "0x123", "hello", "0x" + "g" * 40])
def test_nonce_for_something_that_is_not_an_address_is_refused(api, address):
    response = api.post(NONCE_URL, {"address": address})
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_address", "invalid"}
    assert not SiweNonce.objects.exists()


def test_first_linked_wallet_is_primary(user_api, user):
    account = Account.create()
    response = sign_in(user_api, account)
    assert response.status_code == 201
    body = response.json()
    assert body["address"] == account.address
    assert body["is_primary"] is True
    wallet = Wallet.objects.get()
    assert (wallet.user, wallet.address, wallet.is_primary) == (user, account.address, True)


def test_second_wallet_is_linked_but_not_primary(user_api, user):
    first, second = Account.create(), Account.create()
    assert sign_in(user_api, first).status_code == 201
    response = sign_in(user_api, second)
    assert response.status_code == 201
    assert response.json()["is_primary"] is False
    assert list(user.wallets.values_list("address", "is_primary")) == [
        (first.address, True),
        (second.address, False),
    ]


def test_linking_a_wallet_already_yours_returns_it(user_api, user):
    account = Account.create()
    first = sign_in(user_api, account).json()
    response = sign_in(user_api, account)
    assert response.status_code == 200
    assert response.json() == first
    assert user.wallets.count() == 1


def test_make_primary_moves_the_flag(user_api, user):
    first, second = Account.create(), Account.create()
    sign_in(user_api, first)
    second_id = sign_in(user_api, second).json()["id"]
    response = user_api.post(f"/api/v1/wallets/{second_id}/primary/")
    assert response.status_code == 200
    assert response.json()["is_primary"] is True
    assert user.wallets.get(is_primary=True).address == second.address
    assert user.wallets.filter(is_primary=True).count() == 1
    # Again: nothing to do, same answer.
    assert user_api.post(f"/api/v1/wallets/{second_id}/primary/").status_code == 200
    assert user.wallets.filter(is_primary=True).count() == 1


def test_list_shows_only_your_wallets_primary_first(
    user_api, user, other_user, django_assert_max_num_queries
):
    Wallet.objects.create(user=user, address=Account.create().address)
    primary = Wallet.objects.create(user=user, address=Account.create().address, is_primary=True)
    Wallet.objects.create(user=other_user, address=Account.create().address, is_primary=True)
    with django_assert_max_num_queries(2):
        response = user_api.get("/api/v1/wallets/")
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 2
    assert body["results"][0]["id"] == primary.pk
    assert {row["address"] for row in body["results"]} == set(
        user.wallets.values_list("address", flat=True)
    )


def test_wallet_list_needs_a_login(api):
    assert api.get("/api/v1/wallets/").status_code == 401


def test_anonymous_client_logs_in_with_a_linked_wallet(api, user):
    account = Account.create()
    wallet = Wallet.objects.create(user=user, address=account.address, is_primary=True)
    response = sign_in(api, account)
    assert response.status_code == 200
    assert response.json() == {
        "user_id": user.pk,
        "wallet": {
            "id": wallet.pk,
            "address": account.address,
            "is_primary": True,
            "created_at": response.json()["wallet"]["created_at"],
        },
    }
    assert logged_in_user_id(api) == user.pk
    me = api.get("/api/v1/me/")  # the session cookie alone now authenticates
    assert me.status_code == 200
    assert me.json()["id"] == user.pk
    assert me.json()["wallets"] == [response.json()["wallet"]]


def test_unknown_wallet_cannot_log_in_and_is_told_to_link_it_first(api):
    response = sign_in(api, Account.create())
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "wallet_not_linked"
    assert "e-mail" in body["detail"]
    assert "link" in body["detail"]
    assert logged_in_user_id(api) is None
    assert not Wallet.objects.exists()
    assert api.get("/api/v1/me/").status_code == 401


def test_deactivated_account_cannot_log_in_with_its_wallet(api):
    account = Account.create()
    Wallet.objects.create(user=make_user(is_active=False), address=account.address)
    response = sign_in(api, account)
    assert response.status_code == 403
    assert response.json()["code"] == "account_inactive"
    assert logged_in_user_id(api) is None


def test_wallet_cannot_skip_the_second_factor_of_an_mfa_account(api, user):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(user, generate_totp_secret())
    RecoveryCodes.activate(user)
    account = Account.create()
    Wallet.objects.create(user=user, address=account.address, is_primary=True)
    response = sign_in(api, account)
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"
    assert logged_in_user_id(api) is None


def test_wallet_linked_to_someone_else_is_a_conflict(user_api, user, other_user):
    account = Account.create()
    Wallet.objects.create(user=other_user, address=account.address, is_primary=True)
    response = sign_in(user_api, account)
    assert response.status_code == 409
    assert response.json()["code"] == "wallet_linked_elsewhere"
    assert not user.wallets.exists()
    assert Wallet.objects.get().user == other_user


def test_replayed_message_is_refused(user_api, user, other_user):
    account = Account.create()
    issued = ask_for_message(user_api, account.address)
    body = {"message": issued["message"], "signature": sign(account, issued["message"])}
    assert user_api.post(VERIFY_URL, body).status_code == 201
    # The same signed message again, from the same user and from a stranger.
    for client_user in (user, other_user):
        client = APIClient()
        client.force_authenticate(client_user)
        response = client.post(VERIFY_URL, body)
        assert response.status_code == 400
        assert response.json()["code"] == "siwe_nonce_invalid"
    anonymous = APIClient()
    assert anonymous.post(VERIFY_URL, body).json()["code"] == "siwe_nonce_invalid"
    assert logged_in_user_id(anonymous) is None
    assert Wallet.objects.count() == 1
    assert not other_user.wallets.exists()


def test_a_message_used_to_log_in_cannot_log_in_again(api, user):
    account = Account.create()
    Wallet.objects.create(user=user, address=account.address, is_primary=True)
    issued = ask_for_message(api, account.address)
    body = {"message": issued["message"], "signature": sign(account, issued["message"])}
    assert api.post(VERIFY_URL, body).status_code == 200
    second = APIClient()
    response = second.post(VERIFY_URL, body)
    assert response.json()["code"] == "siwe_nonce_invalid"
    assert logged_in_user_id(second) is None


# Each tampering takes (issued nonce response, signer, another key) and returns
# the (message, signature) to post.
Tamper = Callable[[dict[str, Any], LocalAccount, LocalAccount], tuple[str, str]]


def _rebuilt(issued: dict[str, Any], account: LocalAccount, **changes: Any) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {
        "address": account.address,
        "domain": "testserver",
        "uri": "http://testserver/",
        "nonce": issued["nonce"],
        "issued_at": now,
        "expires_at": now + timedelta(minutes=5),
        **changes,
    }
    return wallets.build_message(**fields)


def _wrong_domain(issued, account, other):
    message = _rebuilt(issued, account, domain="evil.example")
    return message, sign(account, message)


def _wrong_chain(issued, account, other):
    message = issued["message"].replace("Chain ID: 31337", "Chain ID: 1")
    return message, sign(account, message)


def _expired(issued, account, other):
    past = timezone.now() - timedelta(hours=1)
    message = _rebuilt(issued, account, issued_at=past, expires_at=past + timedelta(minutes=5))
    return message, sign(account, message)


def _not_yet_valid(issued, account, other):
    message = issued["message"] + "\nNot Before: 2099-01-01T00:00:00.000Z"
    return message, sign(account, message)


def _signed_by_another_key(issued, account, other):
    return issued["message"], sign(other, issued["message"])


def _malformed_signature(issued, account, other):
    return issued["message"], "0x" + "11" * 65


def _unknown_nonce(issued, account, other):
    message = _rebuilt(issued, account, nonce="0123456789abcdef0123456789abcdef")
    return message, sign(account, message)


def _nonce_expired_in_store(issued, account, other):
    SiweNonce.objects.filter(nonce=issued["nonce"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    return issued["message"], sign(account, issued["message"])


def _not_a_siwe_message(issued, account, other):
    message = "Please sign this to prove it is you."
    return message, sign(account, message)


def _address_edited_after_signing(issued, account, other):
    message = issued["message"].replace(account.address, other.address)
    return message, sign(account, issued["message"])


BAD_INPUTS: list[tuple[Tamper, str]] = [
    (_wrong_domain, "siwe_wrong_domain"),
    (_wrong_chain, "siwe_wrong_chain"),
    (_expired, "siwe_expired"),
    (_not_yet_valid, "siwe_not_yet_valid"),
    (_signed_by_another_key, "siwe_bad_signature"),
    (_malformed_signature, "siwe_bad_signature"),
    (_address_edited_after_signing, "siwe_bad_signature"),
    (_unknown_nonce, "siwe_nonce_invalid"),
    (_nonce_expired_in_store, "siwe_nonce_invalid"),
    (_not_a_siwe_message, "siwe_invalid_message"),
]


@pytest.mark.parametrize(("tamper", "code"), BAD_INPUTS, ids=[c for _, c in BAD_INPUTS])
def test_bad_message_links_nothing(user_api, user, tamper, code):
    account, other = Account.create(), Account.create()
    issued = ask_for_message(user_api, account.address)
    message, signature = tamper(issued, account, other)
    response = user_api.post(VERIFY_URL, {"message": message, "signature": signature})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Wallet.objects.exists()


@pytest.mark.parametrize(("tamper", "code"), BAD_INPUTS, ids=[c for _, c in BAD_INPUTS])
def test_bad_message_logs_nobody_in(api, user, tamper, code):
    account, other = Account.create(), Account.create()
    for linked in (account, other):
        Wallet.objects.create(user=make_user(), address=linked.address)
    issued = ask_for_message(api, account.address)
    message, signature = tamper(issued, account, other)
    response = api.post(VERIFY_URL, {"message": message, "signature": signature})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert logged_in_user_id(api) is None
    assert api.get("/api/v1/me/").status_code == 401


def test_refused_message_does_not_spend_the_nonce(user_api):
    account = Account.create()
    issued = ask_for_message(user_api, account.address)
    stolen = {"message": issued["message"], "signature": sign(Account.create(), issued["message"])}
    assert user_api.post(VERIFY_URL, stolen).json()["code"] == "siwe_bad_signature"
    honest = {"message": issued["message"], "signature": sign(account, issued["message"])}
    assert user_api.post(VERIFY_URL, honest).status_code == 201


def test_signature_must_be_hex(user_api):
    account = Account.create()
    issued = ask_for_message(user_api, account.address)
    response = user_api.post(VERIFY_URL, {"message": issued["message"], "signature": "nope"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Wallet.objects.exists()


def test_sign_in_endpoints_take_json_only(api, user):
    """A cross-site HTML form cannot post JSON, so it cannot log a browser in (login CSRF)."""
    account = Account.create()
    Wallet.objects.create(user=user, address=account.address)
    issued = ask_for_message(api, account.address)
    body = {"message": issued["message"], "signature": sign(account, issued["message"])}
    response = api.post(VERIFY_URL, body, format="multipart")
    assert response.status_code == 415
    assert logged_in_user_id(api) is None


# --- unlinking ---------------------------------------------------------------


def _session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _reauthenticate(client: APIClient) -> None:
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD}, format="multipart")
    assert response.status_code == 302, response.content


def test_unlink_without_a_recent_login_is_refused(user_api, user):
    wallet = Wallet.objects.create(user=user, address=Account.create().address, is_primary=True)
    response = user_api.delete(f"/api/v1/wallets/{wallet.pk}/")
    assert response.status_code == 401
    assert response.json()["code"] == "reauthentication_required"
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_unlink_after_reauthentication_removes_the_wallet_and_promotes_the_next(user):
    first = Wallet.objects.create(user=user, address=Account.create().address, is_primary=True)
    second = Wallet.objects.create(user=user, address=Account.create().address)
    client = _session_client(user)
    _reauthenticate(client)
    response = client.delete(f"/api/v1/wallets/{first.pk}/")
    assert response.status_code == 204
    assert list(user.wallets.values_list("pk", "is_primary")) == [(second.pk, True)]


def test_an_old_login_does_not_count_as_recent(user):
    wallet = Wallet.objects.create(user=user, address=Account.create().address)
    client = _session_client(user)
    session = client.session
    # allauth's own record of a password login, made an hour ago.
    session["account_authentication_methods"] = [{"method": "password", "at": time.time() - 3600}]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    response = client.delete(f"/api/v1/wallets/{wallet.pk}/")
    assert response.json()["code"] == "reauthentication_required"
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_a_wallet_login_does_not_count_as_a_recent_login(api, user):
    """Holding one wallet's key must not be enough to strip the account's other wallets."""
    account = Account.create()
    Wallet.objects.create(user=user, address=account.address, is_primary=True)
    other = Wallet.objects.create(user=user, address=Account.create().address)
    assert sign_in(api, account).status_code == 200
    response = api.delete(f"/api/v1/wallets/{other.pk}/")
    assert response.json()["code"] == "reauthentication_required"
    assert Wallet.objects.filter(pk=other.pk).exists()


def test_someone_elses_wallet_is_not_found(user, other_user):
    theirs = Wallet.objects.create(user=other_user, address=Account.create().address)
    client = _session_client(user)
    _reauthenticate(client)
    for response in (
        client.get(f"/api/v1/wallets/{theirs.pk}/"),
        client.post(f"/api/v1/wallets/{theirs.pk}/primary/"),
        client.delete(f"/api/v1/wallets/{theirs.pk}/"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.user == other_user
    assert theirs.is_primary is False


def test_someone_elses_wallet_is_not_found_even_without_reauthentication(user_api, other_user):
    theirs = Wallet.objects.create(user=other_user, address=Account.create().address)
    assert user_api.delete(f"/api/v1/wallets/{theirs.pk}/").status_code == 404
    assert user_api.post(f"/api/v1/wallets/{theirs.pk}/primary/").status_code == 404
    assert Wallet.objects.filter(pk=theirs.pk).exists()


def test_app_with_a_session_token_links_and_unlinks_after_logging_in(user):
    """Third-party apps authenticate with allauth's X-Session-Token, not a cookie."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    app = APIClient()
    login = app.post(
        "/_allauth/app/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    app.credentials(HTTP_X_SESSION_TOKEN=login.json()["meta"]["session_token"])
    account = Account.create()
    linked = sign_in(app, account)
    assert linked.status_code == 201
    assert Wallet.objects.get().user == user
    # The fresh login is recorded in the token's session, which is what counts.
    assert app.delete(f"/api/v1/wallets/{linked.json()['id']}/").status_code == 204
    assert not Wallet.objects.exists()


# --- models and housekeeping ---------------------------------------------------


def test_a_user_has_at_most_one_primary_wallet(user):
    from django.db import IntegrityError, transaction

    Wallet.objects.create(user=user, address=Account.create().address, is_primary=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.create(user=user, address=Account.create().address, is_primary=True)


def test_purge_removes_only_long_expired_nonces():
    now = timezone.now()
    SiweNonce.objects.create(nonce="old", expires_at=now - timedelta(days=2))
    SiweNonce.objects.create(nonce="fresh", expires_at=now + timedelta(minutes=5))
    assert wallets.purge_expired_nonces() == 1
    assert list(SiweNonce.objects.values_list("nonce", flat=True)) == ["fresh"]


# --- concurrency ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_signed_message_verified_by_eight_threads_at_once_links_once():
    user = make_user()
    account = Account.create()
    issued = wallets.issue_nonce(
        address=account.address, domain="testserver", uri="http://testserver/"
    )
    body = {"message": issued.message, "signature": sign(account, issued.message)}
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def verify() -> None:
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=10)
            response = client.post(VERIFY_URL, body)
            with lock:
                results.append((response.status_code, response.json().get("code")))
        finally:
            connection.close()

    threads = [threading.Thread(target=verify) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == threads_count
    assert sorted(results, key=lambda r: r[0]) == [(201, None)] + [(400, "siwe_nonce_invalid")] * 7
    assert Wallet.objects.filter(user=user).count() == 1
    assert SiweNonce.objects.get(nonce=issued.nonce).used_at is not None
