"""Chat fan-out: 500 WebSocket clients in conversations of 10, one server process, Redis.

Each client joins ``/ws/chat/<id>/`` on one uvicorn process (channels-redis on
REDIS_URL; the database is DATABASE_URL's, or SQLite in a temporary folder) and posts
``--messages`` messages (3), one every ``--interval`` seconds (10; at least 1, the
socket's rate limit being 10 per 10 s), starting at a random offset: 500 clients
offer 50 messages/s, 500 deliveries/s. ``--interval 1.2`` offers ~420 messages/s
and shows where one process saturates. Every message is stored by the
``post_message`` service and broadcast to the 10 members on commit. A message's
round trip is the time from its sender's ``send`` to the sender receiving the
broadcast back; messages/s counts posted messages, deliveries/s the frames all
members received; "lost" counts messages whose sender didn't get them back within
60 s of the last send (a backlog at saturation shows up there, not as a hang).

Baseline, in the same run and with the same clients, pacing and fan-out: raw Redis
pub/sub, one subscriber connection per client on its conversation's channel, the
sender timing its own PUBLISH until its subscriber hears it.

Run: ``REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/bench_chat.py``
(``--clients 200`` for a smaller run); ``make bench`` runs it too (setup()).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from harness import Case, Context  # noqa: E402

GROUP_SIZE = 10
CONNECT_BATCH = 50
TIMEOUT_SECONDS = 60.0

SEED = """
import json, django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from marketplace.models import User
from notifications.models import Conversation, Membership

label, clients, group_size = LABEL, CLIENTS, GROUP  # prefixed by seed()
with transaction.atomic():
    users = User.objects.bulk_create(
        User(email=f"chat-{label}-{n}@bench.test") for n in range(clients))
    conversations = Conversation.objects.bulk_create(
        Conversation(subject_type="bench.chat", subject_id=f"{label}-{g}", kind="contract")
        for g in range(clients // group_size))
    Membership.objects.bulk_create(
        Membership(conversation=conversations[n // group_size], user=user)
        for n, user in enumerate(users))
sessions = []
for user in users:
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    sessions.append(s.session_key)
print(json.dumps({"conversations": [c.pk for c in conversations], "sessions": sessions}))
"""


def seed(env: dict[str, str], label: str, clients: int) -> dict[str, Any]:
    """Users, conversations of GROUP_SIZE and a signed-in session each, in a subprocess."""
    code = f"LABEL, CLIENTS, GROUP = {label!r}, {clients}, {GROUP_SIZE}\n" + SEED
    return dict(json.loads(harness.python(env, code).splitlines()[-1]))


@dataclass
class Outcome:
    name: str
    clients: int
    sent: int = 0
    delivered: int = 0
    errors: int = 0
    round_trips: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lost(self) -> int:
        return self.sent - len(self.round_trips)

    def pct(self, p: float) -> float:
        ordered = sorted(self.round_trips)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


async def paced(
    outcome: Outcome,
    messages: int,
    interval: float,
    send: Callable[[str], Awaitable[None]],
    pending: dict[str, float],
) -> None:
    """Send ``messages`` tagged messages, one per ``interval``, from a random offset."""
    await asyncio.sleep(random.uniform(0, interval))
    for _ in range(messages):
        tag = uuid.uuid4().hex
        pending[tag] = time.perf_counter()
        outcome.sent += 1
        await send(tag)
        await asyncio.sleep(interval)


async def settle(pending: dict[str, float], outcome: Outcome) -> None:
    """Wait until every message has come back, or the timeout passes."""
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    while len(outcome.round_trips) < outcome.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)


# --- baseline: raw Redis pub/sub ---------------------------------------------------------


async def redis_baseline(
    url: str, clients: int, messages: int, interval: float, label: str
) -> Outcome:
    import redis.asyncio as redis

    outcome = Outcome("redis pub/sub (baseline)", clients)
    publisher = redis.Redis.from_url(url)
    subscribers = [redis.Redis.from_url(url) for _ in range(clients)]
    pending: dict[str, float] = {}

    async def client(number: int, ready: asyncio.Event) -> None:
        channel = f"bench.chat.{label}.{number // GROUP_SIZE}"
        mine = f"{number}:"
        pubsub = subscribers[number].pubsub()
        await pubsub.subscribe(channel)
        await pubsub.get_message(timeout=5)  # the subscribe confirmation
        ready.set()

        async def listen() -> None:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is None:
                    continue
                outcome.delivered += 1
                body = message["data"].decode()
                if body.startswith(mine):
                    tag = body[len(mine) :]
                    outcome.round_trips.append(time.perf_counter() - pending.pop(tag))

        listener = asyncio.create_task(listen())
        await start.wait()

        async def send(tag: str) -> None:
            await publisher.publish(channel, f"{mine}{tag}")

        await paced(outcome, messages, interval, send, pending)
        await done.wait()
        listener.cancel()
        await pubsub.aclose()

    start, done = asyncio.Event(), asyncio.Event()
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(client(n, readies[n])) for n in range(clients)]
    for ready in readies:
        await ready.wait()
    started = time.perf_counter()
    start.set()
    await asyncio.sleep(interval * messages + interval)
    await settle(pending, outcome)
    outcome.seconds = time.perf_counter() - started
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for connection in [publisher, *subscribers]:
        await connection.aclose()
    return outcome


# --- the chat over WebSockets --------------------------------------------------------------


async def chat_run(
    server: str, seeded: dict[str, Any], clients: int, messages: int, interval: float
) -> Outcome:
    import websockets

    outcome = Outcome("chat over WebSocket", clients)
    pending: dict[str, float] = {}
    start, done = asyncio.Event(), asyncio.Event()

    async def open_socket(number: int) -> Any:
        conversation = seeded["conversations"][number // GROUP_SIZE]
        ws = await websockets.connect(
            f"ws://{server}/ws/chat/{conversation}/",
            additional_headers={"Cookie": f"sessionid={seeded['sessions'][number]}"},
            origin=websockets.Origin(f"http://{server}"),
            open_timeout=60,
            max_queue=None,
            # A saturated server answers pings late; measure it rather than hang up on it.
            ping_interval=None,
        )
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        return ws

    async def client(number: int, ws: Any) -> None:
        mine = f"{number}:"

        async def listen() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "error":
                    outcome.errors += 1
                if frame["type"] != "message":
                    continue
                outcome.delivered += 1
                body = frame["message"]["body"]
                if body.startswith(mine):
                    tag = body[len(mine) :]
                    outcome.round_trips.append(time.perf_counter() - pending.pop(tag))

        listener = asyncio.create_task(listen())
        await start.wait()

        async def send(tag: str) -> None:
            await ws.send(json.dumps({"type": "message", "body": f"{mine}{tag}"}))

        await paced(outcome, messages, interval, send, pending)
        await done.wait()
        listener.cancel()
        await ws.close()

    sockets: list[Any] = []
    connect_started = time.perf_counter()
    for first in range(0, clients, CONNECT_BATCH):
        batch = range(first, min(clients, first + CONNECT_BATCH))
        sockets += await asyncio.gather(*(open_socket(n) for n in batch))
    print(
        f"  {clients} sockets joined in {time.perf_counter() - connect_started:.1f} s",
        file=sys.stderr,
    )
    tasks = [asyncio.create_task(client(n, ws)) for n, ws in enumerate(sockets)]
    await asyncio.sleep(1)  # let the join announcements drain
    started = time.perf_counter()
    start.set()
    await asyncio.sleep(interval * messages + interval)
    await settle(pending, outcome)
    outcome.seconds = time.perf_counter() - started
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return outcome


def print_table(outcomes: list[Outcome], baseline: Outcome) -> None:
    header = (
        f"{'case':28} {'clients':>7} {'sent':>6} {'lost':>5} {'msg/s':>7} "
        f"{'deliv/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p50 x':>6} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        print(
            f"{o.name:28} {o.clients:>7} {o.sent:>6} {o.lost:>5} {o.sent / o.seconds:>7.0f} "
            f"{o.delivered / o.seconds:>8.0f} {o.pct(0.5):>8.2f} {o.pct(0.99):>8.2f} "
            f"{o.pct(0.5) / max(baseline.pct(0.5), 1e-9):>6.1f} {o.errors:>6}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--messages", type=int, default=3, help="per client")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between a client's sends (>= 1)"
    )
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "")
    if not url:
        print("bench_chat needs REDIS_URL=redis://... (channels-redis)", file=sys.stderr)
        return 2
    clients = args.clients - args.clients % GROUP_SIZE
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        from bench_release import ensure_database

        ensure_database(database_url)
    label = uuid.uuid4().hex[:8]
    with harness.temporary_data_dir() as tmp:
        started = time.perf_counter()
        print("preparing database ...", file=sys.stderr, flush=True)
        env = harness.prepare(Path(tmp))
        print(f"seeding {clients} users ...", file=sys.stderr, flush=True)
        seeded = seed(env, label, clients)
        print("redis pub/sub baseline ...", file=sys.stderr, flush=True)
        baseline = asyncio.run(redis_baseline(url, clients, args.messages, args.interval, label))
        with harness.running_server(env) as base_url:
            print("chat over WebSocket ...", file=sys.stderr, flush=True)
            server = base_url.removeprefix("http://")
            chat = asyncio.run(chat_run(server, seeded, clients, args.messages, args.interval))
        database = env.get("DATABASE_URL", "sqlite (embedded)").split("@")[-1]
        print(
            f"\nChat fan-out — {clients} clients in conversations of {GROUP_SIZE}, "
            f"{args.messages} messages each every {args.interval:g} s; database: {database}; "
            f"server: uvicorn, 1 process, channels-redis; {time.perf_counter() - started:.0f} s\n"
        )
        print_table([baseline, chat], baseline)
        return 1 if chat.lost or chat.errors else 0


# --- as part of `make bench` (bench/run.py) ---------------------------------------------------


def setup(env: dict[str, str]) -> None:
    """run.py seeds every module before its HTTP cases: run the chat benchmark then, in
    its own process with its own server."""
    if not env.get("REDIS_URL"):
        print("skipping the chat benchmark: it needs REDIS_URL", file=sys.stderr)
        return
    import subprocess

    result = subprocess.run([sys.executable, __file__], env=env, check=False)
    if result.returncode:
        raise SystemExit(f"chat benchmark failed ({result.returncode})")


def cases(ctx: Context) -> list[Case]:
    return []  # not an HTTP benchmark: setup() runs and reports it


if __name__ == "__main__":
    raise SystemExit(main())
