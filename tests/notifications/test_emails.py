"""Notification e-mails: every template through the outbox, preferences, sending once."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator
from email.mime.base import MIMEBase

import pytest
from celery import current_app as celery_app
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connections
from django.test import override_settings

from notifications import emails, tasks
from notifications.models import Channel, Notification, NotificationPreference
from notifications.services import notify
from tests.factories import make_user

pytestmark = pytest.mark.django_db

TITLE = "Review “Logo & colours”: released automatically in 3 day(s)"
PATH = "/contracts/7/"

# One verb per template (the digest has tests of its own).
ONE_VERB_PER_TEMPLATE = sorted(
    {
        template: verb
        for verb, template in sorted(emails.EMAIL_VERBS.items(), reverse=True)
        if verb != emails.DIGEST_VERB
    }.items()
)


@pytest.fixture
def eager() -> Iterator[None]:
    """``delay`` runs the task in this thread, as a worker would."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


def make_notification(verb: str = "approval_reminder", **fields: object) -> Notification:
    user = fields.pop("user", None) or make_user(email="client@example.com")
    values: dict[str, object] = {
        "user": user,
        "verb": verb,
        "title": TITLE,
        "url": PATH,
        "data": {"amount": "1,250.00 USD", "due": "29 Nov 2026 at 14:00 UTC"},
    }
    values.update(fields)
    return Notification.objects.create(**values)


def parts(message: EmailMultiAlternatives) -> tuple[str, str, str]:
    html = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    assert len(html) == 1, "one HTML alternative"
    assert isinstance(html[0], str)
    return str(message.subject), str(message.body), html[0]


def assert_rendered(*texts: str) -> None:
    for text in texts:
        assert "{{" not in text
        assert "{%" not in text
        assert "}}" not in text


@pytest.mark.parametrize(("template", "verb"), ONE_VERB_PER_TEMPLATE)
def test_every_template_is_mailed_with_subject_text_html_and_link(template: str, verb: str):
    notification = make_notification(verb)

    assert tasks.send_notification_email(notification.pk) is True

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["client@example.com"]
    subject, text, html = parts(message)
    assert_rendered(subject, text, html)
    link = f"{settings.SITE_URL}{PATH}"
    assert subject == TITLE  # plain text: the quotes and the ampersand as written
    assert TITLE in text
    assert link in text
    assert "Logo &amp; colours" in html
    assert f'href="{link}"' in html
    # The amounts and dates the service gave are shown in both parts.
    for shown in ("1,250.00 USD", "29 Nov 2026 at 14:00 UTC"):
        assert shown in text
        assert shown in html
    # The site's layout: its brand and colours, inline (mail clients drop <style>).
    assert "Smart<span" in html
    assert "#1f4f8f" in html
    assert "<style" not in html
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_every_template_name_has_its_three_files():
    from django.template.loader import get_template

    for template in set(emails.EMAIL_VERBS.values()):
        for suffix in ("_subject.txt", ".txt", ".html"):
            get_template(f"email/{template}{suffix}")


def test_detail_text_is_shown_below_the_message():
    notification = make_notification(
        "dispute_decided",
        title="Dispute decided: “Logo”",
        data={"detail": "The arbiter gave 60 % to the freelancer.\nReason: partly done."},
    )

    tasks.send_notification_email(notification.pk)

    _, text, html = parts(mail.outbox[0])  # type: ignore[arg-type]
    assert "The arbiter gave 60 % to the freelancer.\nReason: partly done." in text
    assert "The arbiter gave 60 % to the freelancer." in html


def test_a_notification_without_a_link_has_no_button():
    notification = make_notification("payout", title="Payout sent", url="", data={})

    tasks.send_notification_email(notification.pk)

    _, text, html = parts(mail.outbox[0])  # type: ignore[arg-type]
    assert "Payout sent" in text
    assert 'href="http' in html
    assert "Or paste this link" not in html


def test_opting_out_of_a_verbs_email_sends_nothing():
    notification = make_notification()
    NotificationPreference.objects.create(
        user=notification.user, verb="approval_reminder", channel=Channel.EMAIL, enabled=False
    )

    assert tasks.send_notification_email(notification.pk) is False

    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.emailed_at is None


def test_opting_out_of_in_app_only_still_mails():
    notification = make_notification()
    NotificationPreference.objects.create(
        user=notification.user, verb="approval_reminder", channel=Channel.IN_APP, enabled=False
    )

    assert tasks.send_notification_email(notification.pk) is True
    assert len(mail.outbox) == 1


def test_sending_the_same_notification_twice_sends_one_mail():
    notification = make_notification()

    assert tasks.send_notification_email(notification.pk) is True
    assert tasks.send_notification_email(notification.pk) is False

    assert len(mail.outbox) == 1


def test_a_verb_without_a_template_is_not_mailed():
    notification = make_notification("proposal_updated")

    assert tasks.send_notification_email(notification.pk) is False
    assert mail.outbox == []


def test_a_chat_message_notification_is_left_to_the_digest():
    notification = make_notification(emails.DIGEST_VERB, title="New message from Ann")

    assert tasks.send_notification_email(notification.pk) is False
    assert mail.outbox == []


def test_a_user_without_an_address_or_a_deleted_row_gets_nothing():
    notification = make_notification(user=make_user(email=""))

    assert tasks.send_notification_email(notification.pk) is False
    assert tasks.send_notification_email(notification.pk + 1000) is False
    assert mail.outbox == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_gives_the_claim_back_for_the_retry():
    notification = make_notification()
    smtp = "django.core.mail.backends.smtp.EmailBackend"

    server_down = override_settings(
        EMAIL_BACKEND=smtp, EMAIL_HOST="127.0.0.1", EMAIL_PORT=closed_port()
    )
    with server_down, pytest.raises(tasks.TRANSIENT_ERRORS):
        emails.send_notification_email(notification.pk)

    notification.refresh_from_db()
    assert notification.emailed_at is None
    # The next attempt, with the server back, sends it.
    assert tasks.send_notification_email(notification.pk) is True
    assert len(mail.outbox) == 1


def test_the_task_retries_transient_errors_with_limits_and_late_ack():
    task = tasks.send_notification_email
    assert task.name == "notifications.send_email"
    assert task.acks_late is True
    assert task.time_limit
    assert task.soft_time_limit
    assert task.soft_time_limit < task.time_limit
    assert set(getattr(task, "autoretry_for", ())) >= {smtplib.SMTPException, ConnectionError}
    assert getattr(task, "retry_backoff", 0)
    assert task.max_retries


def test_notify_mails_once_the_action_commits(eager, django_capture_on_commit_callbacks):
    user = make_user(email="freelancer@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(
            user.pk,
            "milestone_funded",
            "Funded: “Logo”",
            PATH,
            data={"amount": "500.00 USD"},
        )

    assert notification is not None
    assert len(mail.outbox) == 1
    subject, text, html = parts(mail.outbox[0])  # type: ignore[arg-type]
    assert subject == "Funded: “Logo”"
    assert "500.00 USD" in text
    assert "500.00 USD" in html
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_notify_of_an_opted_out_verb_mails_nothing(eager, django_capture_on_commit_callbacks):
    user = make_user(email="freelancer@example.com")
    NotificationPreference.objects.create(
        user=user, verb="milestone_funded", channel=Channel.EMAIL, enabled=False
    )

    with django_capture_on_commit_callbacks(execute=True):
        notify(user.pk, "milestone_funded", "Funded: “Logo”", PATH)

    assert mail.outbox == []


def test_render_email_returns_one_line_subject_text_and_html():
    notification = make_notification(title="Offer accepted:\nLogo")

    subject, text, html = emails.render_email(
        "offer_accepted", emails.notification_context(notification)
    )

    assert subject == "Offer accepted: Logo"
    assert text.strip()
    assert html.lstrip().startswith("<!doctype html>")
    assert not isinstance(html, MIMEBase)


@pytest.mark.django_db(transaction=True)
def test_workers_racing_on_one_notification_send_one_mail():
    notification = make_notification()
    start = threading.Barrier(4)
    results: list[bool] = []

    def worker() -> None:
        start.wait()
        try:
            results.append(tasks.send_notification_email(notification.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]
    assert len(mail.outbox) == 1
