"""notify(): a row in the caller's transaction, pushed live and queued for e-mail only
after commit, as the user's preferences say."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import current_app as celery_app
from django.core import mail
from django.db import transaction

from notifications import emails
from notifications.models import Channel, Notification, NotificationPreference
from notifications.services import mark_all_read, mark_read, notify
from smartpay.errors import NotFoundError
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MAILED_VERB = "milestone_funded"


class Boom(Exception):
    pass


@pytest.fixture
def eager() -> Iterator[None]:
    """``delay`` runs the mail task in this thread, as a worker would."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def mailed_verb(monkeypatch: pytest.MonkeyPatch) -> str:
    """A verb that has an e-mail (the generic template), whatever the catalogue holds."""
    monkeypatch.setitem(emails.EMAIL_VERBS, MAILED_VERB, "notification")
    return MAILED_VERB


@pytest.fixture
def unmailed_verb(monkeypatch: pytest.MonkeyPatch) -> str:
    """A verb that has no e-mail."""
    monkeypatch.delitem(emails.EMAIL_VERBS, "offer_sent", raising=False)
    return "offer_sent"


def notify_then_fail(user_id: int) -> None:
    """An action that notifies, then breaks a rule: its transaction rolls back."""
    with transaction.atomic():
        notify(user_id, "offer_sent", "New offer", "/x/")
        raise Boom


def prefer(user, verb: str, channel: str, enabled: bool) -> None:
    NotificationPreference.objects.create(user=user, verb=verb, channel=channel, enabled=enabled)


def test_the_row_is_written_at_once_and_pushed_only_after_commit(
    user, live_pushes, django_capture_on_commit_callbacks
):
    # One inbox per look: the Redis layer binds a channel's reads to one event loop.
    before_commit, inbox = live_pushes(user.pk), live_pushes(user.pk)
    older = Notification.objects.create(user=user, verb="review", title="Older")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            notification = notify(user.pk, "offer_sent", "New offer: Logo", "/contracts/1/offer/")
            assert notification is not None
            assert Notification.objects.filter(pk=notification.pk, read_at=None).exists()
        assert before_commit.payloads(wait=0.1) == []  # written, not committed: not pushed
    notification.refresh_from_db()
    assert inbox.payloads() == [
        {
            "type": "notification",
            "notification": {
                "id": notification.pk,
                "verb": "offer_sent",
                "title": "New offer: Logo",
                "url": "/contracts/1/offer/",
                "created_at": notification.created_at.isoformat(),
                "read": False,
            },
            "unread": 2,
        }
    ]
    assert older.pk != notification.pk


def test_a_rolled_back_action_writes_and_pushes_nothing(
    user, live_pushes, django_capture_on_commit_callbacks
):
    inbox = live_pushes(user.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom):
        notify_then_fail(user.pk)
    assert callbacks == []
    assert not Notification.objects.exists()
    assert inbox.payloads() == []


def test_others_do_not_receive_the_push(
    user, other_user, live_pushes, django_capture_on_commit_callbacks
):
    theirs = live_pushes(other_user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        notify(user.pk, "offer_sent", "New offer", "/x/")
    assert theirs.payloads() == []


def test_the_target_is_kept_by_reference(user, other_user):
    notification = notify(user.pk, "review", "Reviewed", target=other_user, data={"stars": 5})
    assert notification is not None
    notification.refresh_from_db()
    assert (notification.target_type, notification.target_id) == (
        "marketplace.user",
        str(other_user.pk),
    )
    assert notification.data == {"stars": 5}


def test_in_app_off_writes_no_row_and_pushes_nothing(
    user, unmailed_verb, live_pushes, django_capture_on_commit_callbacks
):
    prefer(user, unmailed_verb, Channel.IN_APP, False)
    inbox = live_pushes(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify(user.pk, unmailed_verb, "New offer", "/x/") is None
    assert not Notification.objects.exists()
    assert inbox.payloads() == []


def test_other_verbs_still_arrive_when_one_is_turned_off(user):
    prefer(user, "offer_sent", Channel.IN_APP, False)
    assert notify(user.pk, "offer_accepted", "Accepted", "/x/") is not None


@pytest.mark.usefixtures("eager")
def test_a_mailed_verb_is_mailed_after_commit(
    mailed_verb, live_pushes, django_capture_on_commit_callbacks
):
    user = make_user(email="client@example.com")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = notify(user.pk, mailed_verb, "Funded: Logo", "/contracts/1/")
    assert mail.outbox == []  # nothing is mailed before commit
    for callback in callbacks:
        callback()
    assert [message.to for message in mail.outbox] == [["client@example.com"]]
    assert notification is not None
    notification.refresh_from_db()
    assert notification.emailed_at is not None


@pytest.mark.usefixtures("eager")
def test_e_mail_off_sends_no_mail_but_the_row_is_pushed(
    mailed_verb, live_pushes, django_capture_on_commit_callbacks
):
    user = make_user(email="client@example.com")
    prefer(user, mailed_verb, Channel.EMAIL, False)
    inbox = live_pushes(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        notify(user.pk, mailed_verb, "Funded: Logo", "/contracts/1/")
    assert mail.outbox == []
    assert [p["notification"]["verb"] for p in inbox.payloads()] == [mailed_verb]


@pytest.mark.usefixtures("eager")
def test_e_mail_only_writes_a_read_row_for_the_mail_and_pushes_nothing(
    mailed_verb, live_pushes, django_capture_on_commit_callbacks
):
    user = make_user(email="client@example.com")
    prefer(user, mailed_verb, Channel.IN_APP, False)
    inbox = live_pushes(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(user.pk, mailed_verb, "Funded: Logo", "/contracts/1/")
    assert notification is not None
    notification.refresh_from_db()
    assert notification.read_at is not None  # never counted on the bell
    assert notification.emailed_at is not None
    assert len(mail.outbox) == 1
    assert inbox.payloads() == []


@pytest.mark.usefixtures("eager")
def test_a_verb_without_an_e_mail_is_not_mailed(unmailed_verb, django_capture_on_commit_callbacks):
    user = make_user(email="client@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notify(user.pk, unmailed_verb, "Shortlisted", "/x/")
    assert mail.outbox == []


@pytest.mark.usefixtures("eager")
def test_both_channels_off_writes_nothing(mailed_verb, django_capture_on_commit_callbacks):
    user = make_user(email="client@example.com")
    prefer(user, mailed_verb, Channel.IN_APP, False)
    prefer(user, mailed_verb, Channel.EMAIL, False)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify(user.pk, mailed_verb, "Funded", "/x/") is None
    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_marking_read_pushes_the_new_count_after_commit(
    user, live_pushes, django_capture_on_commit_callbacks
):
    first = notify(user.pk, "review", "One")
    notify(user.pk, "review", "Two")
    assert first is not None
    # One inbox per look: the Redis layer binds a channel's reads to one event loop.
    inbox = live_pushes(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        mark_read(user_id=user.pk, notification_id=first.pk)
        mark_read(user_id=user.pk, notification_id=first.pk)  # again: nothing changes
    assert inbox.payloads() == [{"type": "unread", "unread": 1}]
    inbox = live_pushes(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert mark_all_read(user_id=user.pk) == 1
    assert inbox.payloads() == [{"type": "unread", "unread": 0}]


def test_someone_elses_notification_cannot_be_marked_read(user, other_user):
    theirs = notify(other_user.pk, "review", "Theirs")
    assert theirs is not None
    with pytest.raises(NotFoundError):
        mark_read(user_id=user.pk, notification_id=theirs.pk)
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert mark_all_read(user_id=user.pk) == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None
