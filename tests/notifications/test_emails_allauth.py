"""allauth's address confirmation uses the same layout as every other SmartPay mail."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def html_of(message: EmailMultiAlternatives) -> str:
    html = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    assert len(html) == 1
    return str(html[0])


def assert_in_layout(message: EmailMultiAlternatives, heading: str) -> str:
    """The link the mail asks to open, after checking both parts and the layout."""
    html = html_of(message)
    for part in (str(message.subject), message.body, html):
        assert "{{" not in part
        assert "{%" not in part
    assert heading in message.body
    assert heading in html
    assert "Smart<span" in html
    assert "#1f4f8f" in html
    assert "<style" not in html
    found = re.search(r"http://\S+/accounts/confirm-email/\S+/", str(message.body))
    assert found, message.body
    link = found.group(0)
    assert f'href="{link}"' in html
    assert "Confirm your address" in html
    return link


def test_signing_up_sends_the_welcome_mail_in_the_layout():
    page = Client()
    response = page.post(
        reverse("account_signup"),
        {
            "email": "new@example.com",
            "password1": "a long and unusual passphrase 42",
            "password2": "a long and unusual passphrase 42",
            "role": "freelancer",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["new@example.com"]
    assert message.subject == "[SmartPay] Welcome to SmartPay: confirm your e-mail address"
    link = assert_in_layout(message, "Welcome to SmartPay")
    assert "new@example.com" in message.body

    # The link works: its page asks to confirm, and confirming verifies the address.
    confirm = page.get(link)
    assert confirm.status_code == 200
    page.post(link)
    assert EmailAddress.objects.get(email="new@example.com").verified


def test_adding_another_address_sends_its_confirmation_in_the_layout():
    user = make_user(email="first@example.com")
    EmailAddress.objects.create(user=user, email="first@example.com", verified=True, primary=True)
    page = Client()
    page.force_login(user)

    response = page.post(
        reverse("account_email"), {"action_add": "", "email": "second@example.com"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["second@example.com"]
    assert message.subject == "[SmartPay] Confirm your e-mail address"
    assert_in_layout(message, "Confirm your e-mail address")
