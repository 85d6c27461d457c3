"""``/ws/chat/<conversation_id>/``: a conversation's live messages, typing, read receipts
and presence.

Frames in: ``{"type": "message", "body"}``, ``{"type": "typing"}``,
``{"type": "read", "message_id"}``, ``{"type": "presence", "state": "online"|"away"}``.
Frames out: ``hello`` (on join, with everyone's presence), ``message``, ``typing``,
``read``, ``presence`` and ``error`` (``code``, ``detail``).

Refusals accept the handshake and then close with a code, so browsers see the code
(a refused handshake reaches them only as HTTP 403): 4401 not signed in (or the session
ended), 4403 not a member (also for a conversation that doesn't exist), 4408 rate limit
exceeded repeatedly, 4409 frame too large, 4400 malformed frames repeatedly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from notifications import chat
from notifications.chat_presence import OFFLINE, STATES, presence_store
from notifications.models import Membership
from notifications.ws_auth import signed_in_user_id
from smartpay.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_RATE_LIMITED = 4408
CLOSE_TOO_LARGE = 4409
CLOSE_MALFORMED = 4400


class SlidingWindow:
    """At most ``limit`` events in any ``seconds``-long window."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self.times and now - self.times[0] >= self.seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


def off_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``database_sync_to_async`` off Django's single shared ORM thread, so one socket's
    database call doesn't queue behind every other socket's (each worker thread keeps
    its own connection). Measured with bench/bench_chat.py: 500 sockets at 50 messages/s,
    round-trip p50 3.7 s on the shared thread, 56 ms off it."""
    return database_sync_to_async(func, thread_sensitive=False)


@off_thread
def _member_ids(conversation_id: int) -> list[int]:
    return list(
        Membership.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True)
    )


@off_thread
def _still_allowed(session_key: str | None, user_id: int, conversation_id: int) -> int:
    """0 when the socket may go on, else the close code that ends it."""
    if signed_in_user_id(session_key) != user_id:
        return CLOSE_NOT_AUTHENTICATED
    if not chat.is_member(user_id, conversation_id):
        return CLOSE_NOT_MEMBER
    return 0


class ChatConsumer(AsyncWebsocketConsumer):
    MAX_FRAME_BYTES = 16 * 1024
    MESSAGES_PER_WINDOW = 10  # messages a connection may post per window
    FRAMES_PER_WINDOW = 60  # frames of any kind per window
    WINDOW_SECONDS = 10.0
    TYPING_INTERVAL = 2.0  # at most one typing broadcast per connection this often
    STRIKES = 3  # refused frames of one kind before the socket is closed
    SESSION_RECHECK_SECONDS = 30.0  # how often the session and membership are re-checked

    conversation_id: int
    user_id: int
    group: str | None = None
    heartbeat: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.user_id = int(user.pk)
        self.conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        members = await _member_ids(self.conversation_id)
        if self.user_id not in members:
            await self.close(code=CLOSE_NOT_MEMBER)
            return
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.checked_at = time.monotonic()
        self.messages = SlidingWindow(self.MESSAGES_PER_WINDOW, self.WINDOW_SECONDS)
        self.frames = SlidingWindow(self.FRAMES_PER_WINDOW, self.WINDOW_SECONDS)
        self.typed_at = -self.TYPING_INTERVAL
        self.strikes = {"malformed": 0, "rate_limited": 0}
        self.presence = presence_store()
        self.state = "online"

        self.group = chat.chat_group(self.conversation_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._set_presence("online")
        states = await self.presence.states(self.conversation_id)
        await self.send_json(
            {
                "type": "hello",
                "conversation_id": self.conversation_id,
                "user_id": self.user_id,
                "presence": {str(uid): states.get(uid, OFFLINE) for uid in members},
            }
        )
        self.heartbeat = asyncio.create_task(self._keep_presence())

    async def disconnect(self, code: int) -> None:
        if self.group is None:
            return
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.presence.leave(self.conversation_id, self.user_id, self.channel_name)
        await self._broadcast_presence()
        self.group = None

    # --- frames in -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.group is None:
            return  # refused and closing: ignore anything still in flight
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > self.MAX_FRAME_BYTES:
            await self._close(CLOSE_TOO_LARGE)
            return
        now = time.monotonic()
        if now - self.checked_at >= self.SESSION_RECHECK_SECONDS:
            self.checked_at = now
            code = await _still_allowed(self.session_key, self.user_id, self.conversation_id)
            if code:
                await self._close(code)
                return
        if not self.frames.allow(now):
            await self._rate_limited("Too many frames; slow down.")
            return
        frame = self._parse(text_data)
        if frame is None:
            await self._malformed("Send a JSON object with a known type.")
            return
        handler = getattr(self, f"_on_{frame['type']}")
        await handler(frame, now)

    def _parse(self, text_data: str | None) -> dict[str, Any] | None:
        if text_data is None:
            return None
        try:
            frame = json.loads(text_data)
        except ValueError:
            return None
        if not isinstance(frame, dict) or frame.get("type") not in (
            "message",
            "typing",
            "read",
            "presence",
        ):
            return None
        return frame

    async def _on_message(self, frame: dict[str, Any], now: float) -> None:
        if not self.messages.allow(now):
            await self._rate_limited(
                f"At most {self.MESSAGES_PER_WINDOW} messages per {self.WINDOW_SECONDS:g} seconds."
            )
            return
        body: Any = frame.get("body")  # the service refuses anything but text
        try:
            # The service broadcasts the stored message to the group on commit.
            await off_thread(chat.post_message)(self.scope["user"], self.conversation_id, body)
        except DomainError as error:
            await self._error(error.code, error.detail)

    async def _on_typing(self, frame: dict[str, Any], now: float) -> None:
        if now - self.typed_at < self.TYPING_INTERVAL:
            return  # a typing indicator says the same thing twice: drop repeats quietly
        self.typed_at = now
        await self._group_send({"type": "chat.typing", "user_id": self.user_id})

    async def _on_read(self, frame: dict[str, Any], now: float) -> None:
        message_id = frame.get("message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id < 1:
            await self._malformed("`message_id` is a positive whole number.")
            return
        try:
            membership = await off_thread(chat.mark_read)(
                self.scope["user"], self.conversation_id, message_id
            )
        except DomainError as error:
            await self._error(error.code, error.detail)
            return
        await self._group_send(
            {
                "type": "chat.read",
                "user_id": self.user_id,
                "message_id": membership.last_read_message_id,
            }
        )

    async def _on_presence(self, frame: dict[str, Any], now: float) -> None:
        state = frame.get("state")
        if state not in STATES:
            await self._malformed('`state` is "online" or "away".')
            return
        await self._set_presence(state)

    # --- group events out ------------------------------------------------------------

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "message", "message": event["message"]})

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event["user_id"] != self.user_id:
            await self.send_json({"type": "typing", "user_id": event["user_id"]})

    async def chat_read(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "read", "user_id": event["user_id"], "message_id": event["message_id"]}
        )

    async def chat_presence(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "presence", "user_id": event["user_id"], "state": event["state"]}
        )

    # --- helpers -----------------------------------------------------------------------

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def _group_send(self, event: dict[str, Any]) -> None:
        assert self.group is not None
        await self.channel_layer.group_send(self.group, event)

    async def _set_presence(self, state: str) -> None:
        self.state = state
        await self.presence.set(self.conversation_id, self.user_id, self.channel_name, state)
        await self._broadcast_presence()

    async def _broadcast_presence(self) -> None:
        states = await self.presence.states(self.conversation_id)
        state = states.get(self.user_id, OFFLINE)
        await self.channel_layer.group_send(
            chat.chat_group(self.conversation_id),
            {"type": "chat.presence", "user_id": self.user_id, "state": state},
        )

    async def _keep_presence(self) -> None:
        """Refresh this connection's presence before it expires (a crashed server's
        connections simply expire)."""
        while True:
            await asyncio.sleep(self.presence.ttl / 3)
            await self.presence.set(
                self.conversation_id, self.user_id, self.channel_name, self.state
            )

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def _malformed(self, detail: str) -> None:
        await self._strike("malformed", detail, CLOSE_MALFORMED)

    async def _rate_limited(self, detail: str) -> None:
        await self._strike("rate_limited", detail, CLOSE_RATE_LIMITED)

    async def _strike(self, code: str, detail: str, close_code: int) -> None:
        self.strikes[code] += 1
        await self._error(code, detail)
        if self.strikes[code] >= self.STRIKES:
            await self._close(close_code)

    async def _close(self, code: int) -> None:
        # Leave the group first so nothing more is sent to a socket being closed.
        await self.disconnect(code)
        await self.close(code=code)
