"""Reading notifications: a user's own, newest first, and how many are unread."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from notifications.models import Notification


def notifications_for(user_id: int, *, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first. Nobody else's are ever in it."""
    rows = Notification.objects.filter(user_id=user_id)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by("-created_at", "-pk")


def unread_count(user_id: int) -> int:
    """One COUNT over the partial index of unread rows."""
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def as_payload(notification: Notification) -> dict[str, Any]:
    """What the live push, the API and the bell script all agree a notification is."""
    return {
        "id": notification.pk,
        "verb": notification.verb,
        "title": notification.title,
        "url": notification.url,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }
