"""Who is online in a conversation, across every server process.

Each open socket records its own state ("online" or "away") with an expiry; a user's
state is the best of their sockets' ("online" beats "away"), "offline" with none.
With Redis (``REDIS_URL``) one hash per conversation holds the sockets, so all server
processes agree; without it a dict in this process does (the embedded default runs
one process). Sockets refresh their entry well before it expires, so a crashed
process's users go offline after ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from django.conf import settings

ONLINE, AWAY, OFFLINE = "online", "away", "offline"
STATES = (ONLINE, AWAY)
TTL_SECONDS = 60.0


def _best(states: dict[int, str], user_id: int, state: str) -> None:
    if states.get(user_id) != ONLINE:
        states[user_id] = state


class MemoryPresence:
    ttl = TTL_SECONDS
    _sockets: dict[int, dict[tuple[int, str], tuple[str, float]]] = {}

    async def set(self, conversation_id: int, user_id: int, channel: str, state: str) -> None:
        entries = self._sockets.setdefault(conversation_id, {})
        entries[(user_id, channel)] = (state, time.time() + self.ttl)

    async def leave(self, conversation_id: int, user_id: int, channel: str) -> None:
        self._sockets.get(conversation_id, {}).pop((user_id, channel), None)

    async def states(self, conversation_id: int) -> dict[int, str]:
        now, states = time.time(), dict[int, str]()
        entries = self._sockets.get(conversation_id, {})
        for (user_id, channel), (state, expires) in list(entries.items()):
            if expires < now:
                entries.pop((user_id, channel), None)
            else:
                _best(states, user_id, state)
        return states


class RedisPresence:
    ttl = TTL_SECONDS
    # redis.asyncio clients belong to one event loop; tests and servers may run several.
    _clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, url: str) -> None:
        self.url = url

    def _redis(self) -> Any:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.asyncio.Redis.from_url(self.url, decode_responses=True)
            self._clients[loop] = client
        return client

    @staticmethod
    def _key(conversation_id: int) -> str:
        return f"chat.presence.{conversation_id}"

    async def set(self, conversation_id: int, user_id: int, channel: str, state: str) -> None:
        key = self._key(conversation_id)
        async with self._redis().pipeline(transaction=False) as pipe:
            pipe.hset(key, f"{user_id}|{channel}", f"{state}|{time.time() + self.ttl}")
            pipe.expire(key, int(self.ttl * 2))
            await pipe.execute()

    async def leave(self, conversation_id: int, user_id: int, channel: str) -> None:
        await self._redis().hdel(self._key(conversation_id), f"{user_id}|{channel}")

    async def states(self, conversation_id: int) -> dict[int, str]:
        key = self._key(conversation_id)
        entries = await self._redis().hgetall(key)
        now, states, expired = time.time(), dict[int, str](), list[str]()
        for field, value in entries.items():
            state, _, expires = value.partition("|")
            if float(expires) < now:
                expired.append(field)
            else:
                _best(states, int(field.partition("|")[0]), state)
        if expired:
            await self._redis().hdel(key, *expired)
        return states


def presence_store() -> MemoryPresence | RedisPresence:
    url = getattr(settings, "REDIS_URL", "")
    return RedisPresence(url) if url else MemoryPresence()
