"""Push a frame to a user's open sockets. Call it from ``transaction.on_commit``;
``notifications.services.notify`` does, for notifications."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from notifications.consumers import user_group


def push_to_user(user_id: int, payload: dict[str, Any]) -> None:
    """Send ``payload`` as-is, as one JSON frame, to every open /ws/notifications/ socket
    of the user (on any server process sharing the channel layer)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        user_group(user_id), {"type": "notify.push", "payload": payload}
    )
