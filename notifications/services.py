"""Notifying people, and marking what they have read.

``notify`` writes a row in the caller's transaction. Only once that transaction commits
is the row pushed live to the user's open pages and, if they want it by e-mail, queued
for the mail task. A rolled-back action therefore notifies nobody.

Preferences (``notifications.preferences``) decide per verb and channel:

* in the app on: the row is written unread and pushed live;
* in the app off, e-mail on: the row is written already read (so it never counts on the
  bell and is not pushed) because the mail task sends from the row; it stays in the
  centre's history, marked read;
* both off: nothing is written and ``notify`` returns None.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from notifications import preferences, selectors
from notifications.models import Channel, Notification
from notifications.push import push_to_user
from smartpay.errors import NotFoundError


def notify(
    user_id: int,
    verb: str,
    title: str,
    url: str = "",
    *,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> Notification | None:
    """Tell ``user_id`` that ``verb`` happened. Call it inside the action's transaction;
    the push and the e-mail follow on commit. Returns the row, or None when the user
    wants this verb on no channel."""
    channels = preferences.wanted_channels(user_id, verb)
    in_app = Channel.IN_APP in channels
    # A verb without an e-mail template has nothing to mail, whatever the preference.
    by_email = Channel.EMAIL in channels and verb in preferences.email_verbs()
    if not (in_app or by_email):
        return None
    notification = Notification.objects.create(
        user_id=user_id,
        verb=verb,
        title=title[:300],
        url=url[:500],
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
        read_at=None if in_app else timezone.now(),
    )
    notification_id = notification.pk
    if in_app:
        transaction.on_commit(lambda: _push_new(notification_id))
    if by_email:
        transaction.on_commit(lambda: _queue_email(notification_id, verb))
    return notification


def _push_new(notification_id: int) -> None:
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:  # deleted since (the user was removed): nothing to say
        return
    push_to_user(
        notification.user_id,
        {
            "type": "notification",
            "notification": selectors.as_payload(notification),
            "unread": selectors.unread_count(notification.user_id),
        },
    )


def _queue_email(notification_id: int, verb: str) -> None:
    # Imported late: the e-mail module and the Celery task import this app's models.
    from notifications.emails import DIGEST_VERB, EMAIL_VERBS
    from notifications.tasks import send_notification_email

    # A verb without a template has nothing to send; chat messages go out in digests.
    if verb in EMAIL_VERBS and verb != DIGEST_VERB:
        send_notification_email.delay(notification_id)


def _push_unread(user_id: int) -> None:
    """Other open pages of the user update their bell after a read."""
    push_to_user(user_id, {"type": "unread", "unread": selectors.unread_count(user_id)})


def mark_read(*, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read. Someone else's is not found; reading
    a read one again changes nothing."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(pk=notification_id, user_id=user_id)
            .first()
        )
        if notification is None:
            raise NotFoundError("No such notification.")
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
            transaction.on_commit(lambda: _push_unread(user_id))
    return notification


def mark_all_read(*, user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    with transaction.atomic():
        changed = Notification.objects.filter(user_id=user_id, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        if changed:
            transaction.on_commit(lambda: _push_unread(user_id))
    return changed
