"""Accounts through the pages: sign-up, verification, login, TOTP, recovery codes,
password reset and change, e-mail change, lockout, sessions, admin behind MFA."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.core import mail
from django.core.cache import cache
from django.test import Client

from marketplace.models import User
from tests.factories import PASSWORD, verified_user
from tests.helpers import link_in_last_mail
from tests.totp import totp_code

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-much-longer-new-passphrase-7"


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def activate_totp(client: Client) -> str:
    """Turn on TOTP through the page; returns the secret shown there."""
    sudo = client.get("/accounts/2fa/totp/activate/")
    assert sudo["Location"].startswith("/accounts/reauthenticate/")  # confirm password first
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert 'src="data:image/svg+xml' in page.content.decode()  # QR code, CSP-safe
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    cache.clear()  # codes are single use within their 30 s window; move to the next window
    return secret


# --- sign-up and verification ------------------------------------------------


def test_signup_sends_verification_and_login_waits_for_it(client):
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert "I am joining as" in page.content.decode()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.test",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "role": "freelancer",
            "first_name": "Nia",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email="new@example.test")
    assert (user.is_client, user.is_freelancer, user.first_name) == (False, True, "Nia")
    assert len(mail.outbox) == 1
    assert not is_logged_in(client)

    fresh = Client()
    blocked = log_in(fresh, "new@example.test")
    assert blocked["Location"] == "/accounts/confirm-email/"
    assert not is_logged_in(fresh)

    confirm = link_in_last_mail(r"/accounts/confirm-email/[^/\s]+/")
    assert (
        client.get(confirm).status_code == 200
    )  # a GET shows a button; mail scanners confirm nothing
    assert not EmailAddress.objects.get(email="new@example.test").verified
    client.post(confirm)
    assert EmailAddress.objects.get(email="new@example.test").verified
    assert log_in(fresh, "new@example.test")["Location"] == "/"
    assert is_logged_in(fresh)


def test_reused_or_expired_verification_link_changes_nothing(client, settings):
    client.post(
        "/accounts/signup/",
        {
            "email": "twice@example.test",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "role": "client",
        },
    )
    confirm = link_in_last_mail(r"/accounts/confirm-email/[^/\s]+/")
    settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = -1
    expired = client.post(confirm)
    assert expired.status_code == 404 or "expired or is invalid" in expired.content.decode()
    assert not EmailAddress.objects.get(email="twice@example.test").verified

    settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
    client.post(confirm)
    assert EmailAddress.objects.get(email="twice@example.test").verified
    again = Client().post(confirm)
    assert again.status_code in (302, 404) or "expired or is invalid" in again.content.decode()
    assert EmailAddress.objects.filter(email="twice@example.test").count() == 1


def test_duplicate_signup_is_a_form_error_or_silent(client):
    verified_user(email="taken@example.test")
    response = client.post(
        "/accounts/signup/",
        {
            "email": "TAKEN@example.test",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "role": "client",
        },
    )
    # Enumeration prevention: the page looks like success, the owner gets a notice.
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1
    assert response.status_code in (200, 302)


# --- login, lockout, TOTP, recovery codes ------------------------------------


def test_wrong_password_is_counted_and_locks_the_address_out(client):
    user = verified_user()
    for _ in range(5):
        response = log_in(client, user.email, "wrong-password")
        assert response.status_code == 200
        assert 'role="alert"' in response.content.decode()
    locked = log_in(client, user.email)
    assert not is_logged_in(client)
    assert "Too many failed login attempts" in locked.content.decode()


def test_totp_login_and_recovery_code_login(client):
    user = verified_user(email="mfa@example.test")
    log_in(client, user.email)
    secret = activate_totp(client)
    codes_page = client.get("/accounts/2fa/recovery-codes/")
    assert codes_page.status_code == 200
    download = client.get("/accounts/2fa/recovery-codes/download/")
    assert download["Content-Disposition"].startswith("attachment")
    client.post("/accounts/logout/")

    # Password alone is not enough any more.
    second = Client()
    response = log_in(second, user.email)
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert not is_logged_in(second)
    wrong = second.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200
    assert not is_logged_in(second)
    assert (
        second.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)}).status_code == 302
    )
    assert is_logged_in(second)

    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    recovery_code = RecoveryCodes(authenticator).get_unused_codes()[0]
    third = Client()
    log_in(third, user.email)
    assert third.post("/accounts/2fa/authenticate/", {"code": recovery_code}).status_code == 302
    assert is_logged_in(third)

    fourth = Client()
    log_in(fourth, user.email)
    reused = fourth.post("/accounts/2fa/authenticate/", {"code": recovery_code})
    assert reused.status_code == 200
    assert not is_logged_in(fourth)


# --- passwords and e-mail -----------------------------------------------------


def test_password_reset_by_mail(client):
    user = verified_user(email="forgot@example.test")
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    reset = link_in_last_mail(r"/accounts/password/reset/key/[^\s]+/")
    form_page = client.get(reset, follow=True)
    assert form_page.status_code == 200
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else reset,
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert log_in(Client(), user.email, NEW_PASSWORD)["Location"] == "/"
    assert log_in(Client(), user.email, PASSWORD).status_code == 200  # old one no longer works


def test_password_reset_for_unknown_address_reveals_nothing(client):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.test"})
    assert response.status_code == 302
    assert "nobody@example.test" in mail.outbox[-1].to  # told there is no account, not the page


def test_password_change(client):
    user = verified_user()
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_email_change_needs_verification_of_the_new_address(client):
    user = verified_user(email="old@example.test")
    client.force_login(user)
    client.post("/accounts/email/", {"action_add": "", "email": "new-home@example.test"})
    new = EmailAddress.objects.get(email="new-home@example.test")
    assert not new.verified
    user.refresh_from_db()
    assert user.email == "old@example.test"  # the login does not move until verified
    confirm = link_in_last_mail(r"/accounts/confirm-email/[^/\s]+/")
    client.post(confirm)
    user.refresh_from_db()
    assert user.email == "new-home@example.test"
    assert EmailAddress.objects.get(user=user, primary=True).email == "new-home@example.test"


# --- sessions -----------------------------------------------------------------


def test_sessions_page_logs_out_other_sessions(client):
    user = verified_user()
    other = Client()
    log_in(other, user.email)
    log_in(client, user.email)
    page = client.get("/accounts/sessions/")
    assert page.status_code == 200
    assert page.content.decode().count("<tr") >= 3  # header + two sessions
    client.post("/accounts/sessions/", {"action": "signout"})
    assert is_logged_in(client)
    assert other.get("/accounts/email/").status_code == 302  # sent to the login page


# --- admin behind MFA ---------------------------------------------------------


def test_admin_refuses_staff_without_mfa(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    log_in(client, staff.email)
    response = client.get("/admin/", follow=True)
    visited = [url for url, _ in response.redirect_chain]
    assert "/accounts/2fa/totp/activate/" in visited  # sent to set up TOTP (after a password check)
    assert "two-factor authentication" in response.content.decode()
    assert response.request["PATH_INFO"] != "/admin/"


def test_admin_opens_for_staff_who_passed_the_second_factor(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    log_in(client, staff.email)
    secret = activate_totp(client)
    client.post("/accounts/logout/")
    log_in(client, staff.email)
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert client.get("/admin/").status_code == 200


def test_admin_refuses_a_session_that_skipped_the_second_factor(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    log_in(client, staff.email)
    activate_totp(client)
    skipped = Client()
    skipped.force_login(staff)  # e.g. a session made some other way than the MFA login
    response = skipped.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/2fa/reauthenticate/")


def test_admin_login_form_is_not_a_way_around_mfa(client):
    staff = verified_user(is_staff=True, is_superuser=True)
    response = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not is_logged_in(client)
