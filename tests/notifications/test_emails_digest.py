"""The digest of chat messages missed while away: one mail listing conversations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings
from django.utils import timezone

from notifications import chat, emails, tasks
from notifications.chat_presence import presence_store
from notifications.models import Channel, Conversation, Membership, Message, NotificationPreference
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    ann = make_user(email="ann@example.com", first_name="Ann", last_name="Client")
    bob = make_user(email="bob@example.com", first_name="Bob", last_name="Freelancer")
    return ann, bob


def conversation(title: str, subject_type: str, subject_id: int, *members) -> Conversation:
    found = Conversation.objects.create(
        subject_type=subject_type, subject_id=str(subject_id), kind="contract", title=title
    )
    for member in members:
        chat.add_member(found, member)
    return found


def post(sender, found: Conversation, body: str, minutes_ago: int = 30) -> Message:
    message = chat.post_message(sender, found.pk, body)
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return message


def html_of(message: EmailMultiAlternatives) -> str:
    return str(message.alternatives[0][0])


def test_one_mail_lists_every_conversation_with_its_unread_count(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    site = conversation("Shop website", "marketplace.proposal", 9, ann, bob)
    for body in ("First draft is up", "Second variant too", "Which one?"):
        post(bob, logo, body)
    post(bob, site, "Can we talk budget?")

    assert tasks.send_message_digests() == 1

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["ann@example.com"]
    assert message.subject == "4 unread messages on SmartPay"
    text, html = message.body, html_of(message)
    for shown in ("Logo design: 3 unread", "Shop website: 1 unread", "latest from Bob Freelancer"):
        assert shown in text
    assert "Logo design" in html
    assert "3 unread" in html
    assert "Latest from Bob Freelancer" in html
    workroom = f"{settings.SITE_URL}/contracts/7/"
    assert workroom in text
    assert f'href="{workroom}"' in html
    for part in (message.subject, text, html):
        assert "{{" not in part
        assert "{%" not in part
    # The message bodies stay on the site.
    assert "Which one?" not in text
    assert "Which one?" not in html
    assert Membership.objects.get(conversation=logo, user=ann).notified_until == (
        Message.objects.filter(conversation=logo).latest("id").pk
    )


def test_the_same_messages_are_never_mailed_twice(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "Draft is up")

    assert emails.send_message_digests() == 1
    assert emails.send_message_digests() == 0

    post(bob, logo, "Any news?")
    assert emails.send_message_digests() == 1
    assert len(mail.outbox) == 2
    assert "Logo design: 2 unread" in mail.outbox[1].body  # both still unread


def test_recent_messages_wait_for_the_digest_delay(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "Just now", minutes_ago=2)

    assert emails.send_message_digests() == 0
    with override_settings(CHAT_DIGEST_MINUTES=1):
        assert emails.send_message_digests() == 1
    assert mail.outbox[0].to == ["ann@example.com"]


def test_read_messages_and_own_messages_are_not_mailed(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    message = post(bob, logo, "Draft is up")
    chat.mark_read(ann, logo.pk, message.pk)
    post(ann, logo, "Thanks, looking now")

    # Ann read Bob's message; Bob has Ann's reply unread and gets one mail about it.
    assert emails.send_message_digests() == 1
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    assert "Logo design: 1 unread" in mail.outbox[0].body


def test_opting_out_of_the_digest_sends_nothing(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "Draft is up")
    NotificationPreference.objects.create(
        user=ann, verb=emails.DIGEST_VERB, channel=Channel.EMAIL, enabled=False
    )

    assert emails.send_message_digests() == 0
    assert mail.outbox == []
    assert Membership.objects.get(conversation=logo, user=ann).notified_until is None


def test_a_failed_digest_is_tried_again_next_run(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "Draft is up")
    smtp = "django.core.mail.backends.smtp.EmailBackend"

    with override_settings(EMAIL_BACKEND=smtp, EMAIL_HOST="127.0.0.1", EMAIL_PORT=1):
        assert emails.send_message_digests() == 0

    assert Membership.objects.get(conversation=logo, user=ann).notified_until is None
    assert emails.send_message_digests() == 1


def test_a_second_run_while_one_holds_the_lock_does_nothing(people):
    from django.core.cache import cache

    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "Draft is up")
    cache.add("periodic-lock:notifications-message-digests", "other run", 60)

    assert tasks.send_message_digests() is None
    assert mail.outbox == []


def test_unread_messages_older_than_the_lookback_are_not_mailed(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "From last month", minutes_ago=30 * 24 * 60)

    assert emails.send_message_digests() == 0

    post(bob, logo, "Back to this?")
    assert emails.send_message_digests() == 1
    assert "Logo design: 2 unread" in mail.outbox[0].body  # the count is of all unread


def test_someone_with_the_conversation_open_gets_no_digest_but_away_does(people):
    ann, bob = people
    logo = conversation("Logo design", "marketplace.contract", 7, ann, bob)
    post(bob, logo, "Draft is up")
    store = presence_store()
    set_state = async_to_sync(store.set)
    try:
        set_state(logo.pk, ann.pk, "ann-tab", "online")
        assert emails.send_message_digests() == 0

        set_state(logo.pk, ann.pk, "ann-tab", "away")  # the tab is open but not looked at
        assert emails.send_message_digests() == 1
    finally:
        async_to_sync(store.leave)(logo.pk, ann.pk, "ann-tab")
    assert mail.outbox[0].to == ["ann@example.com"]


def test_the_digest_links_the_page_the_conversation_lives_on(people):
    ann, bob = people
    logo = conversation("Logo design", "disputes.dispute", 3, ann, bob)
    Conversation.objects.filter(pk=logo.pk).update(url="/proposals/12/")
    post(bob, logo, "Draft is up")

    emails.send_message_digests()

    assert f"{settings.SITE_URL}/proposals/12/" in mail.outbox[0].body
