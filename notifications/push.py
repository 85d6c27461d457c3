"""Push an event to a user's open sockets. Call it from ``transaction.on_commit``."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from notifications.consumers import user_group


def push_to_user(user_id: int, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        user_group(user_id), {"type": "notify.push", "payload": payload}
    )


def notify_on_commit(user_id: int, kind: str, title: str, url: str) -> None:
    """Push a live notification once the transaction that caused it has committed
    (nothing is sent if it rolls back)."""
    payload: dict[str, Any] = {"kind": kind, "title": title, "url": url}
    transaction.on_commit(lambda: push_to_user(user_id, payload))
