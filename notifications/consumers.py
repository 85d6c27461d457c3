"""WebSocket consumers. ``/ws/notifications/`` streams a user's live events."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


@database_sync_to_async
def _unread_count(user_id: int) -> int:
    from notifications.selectors import unread_count  # models load after routing

    return unread_count(user_id)


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    """Joins the user's own group and says how many notifications are unread; anonymous
    sockets are closed with 4401. Pushed frames are forwarded as they are:
    ``{"type": "notification", "notification": {...}, "unread": N}`` for a new one,
    ``{"type": "unread", "unread": N}`` after something was read elsewhere."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept, then close: a browser sees a close code only after the handshake
            # (a refused handshake is a bare HTTP 403 to it).
            await self.accept()
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        # Join before counting: a notification committed in between is then pushed too,
        # and the later "unread" it carries wins.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        unread = await _unread_count(user.pk)
        await self.send_json({"type": "hello", "user_id": user.pk, "unread": unread})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The socket only listens; a client's frames are answered with an error."""
        await self.send_json(
            {"type": "error", "code": "read_only", "detail": "This socket only sends."}
        )

    async def notify_push(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])
