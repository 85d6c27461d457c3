"""Two real ASGI servers (uvicorn processes on their own ports) sharing one database and
one Redis channel layer: what is said on one reaches sockets on the other.

The servers use the test database when it is PostgreSQL; on SQLite (whose test
database lives in this process's memory) they share a migrated file in a temporary
folder. Test data is written by a subprocess, the way a third process would.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SEED = """
import json, django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from marketplace.models import User
from notifications import chat
from notifications.models import Conversation

def session_of(user):
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    return s.session_key

people = {name: User.objects.create(email=f"{name}@two-servers.test") for name in
          ("alice", "bob", "stranger")}
conversation = Conversation.objects.create(
    subject_type="marketplace.contract", subject_id="two-servers", kind="contract")
chat.add_member(conversation, people["alice"])
chat.add_member(conversation, people["bob"])
print(json.dumps({
    "conversation": conversation.pk,
    "ids": {name: user.pk for name, user in people.items()},
    "sessions": {name: session_of(user) for name, user in people.items()},
}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="smartpay.settings",
        DATA_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,  # sessions written by the seed verify on both servers
        LOG_LEVEL="WARNING",
    )
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)  # a file database in DATA_DIR both servers open
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    return env


@pytest.fixture
def seeded(server_env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", SEED],
        cwd=ROOT,
        env=server_env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def uvicorn_args(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]


@pytest.fixture
def two_servers(server_env: dict[str, str]) -> Iterator[list[str]]:
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "smartpay.asgi:application", *uvicorn_args(port)],
            cwd=ROOT,
            env=server_env,
        )
        for port in ports
    ]
    urls = [f"127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, "server exited"
                try:
                    if httpx.get(f"http://{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def connect(server: str, conversation: int, session: str) -> Any:
    return websockets.connect(
        f"ws://{server}/ws/chat/{conversation}/",
        additional_headers={"Cookie": f"sessionid={session}"},
        origin=websockets.Origin(f"http://{server}"),
        open_timeout=10,
    )


async def next_frame(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if frame["type"] == kind:
            return dict(frame)


def test_message_sent_on_one_server_arrives_on_the_other(
    two_servers: list[str], seeded: dict[str, Any]
) -> None:
    server_a, server_b = two_servers
    conversation, ids, sessions = seeded["conversation"], seeded["ids"], seeded["sessions"]

    async def scenario() -> dict[str, Any]:
        async with connect(server_b, conversation, sessions["bob"]) as bob:
            assert (await next_frame(bob, "hello"))["presence"][str(ids["alice"])] == "offline"
            assert (await next_frame(bob, "presence"))["user_id"] == ids["bob"]  # own arrival
            async with connect(server_a, conversation, sessions["alice"]) as alice:
                hello = await next_frame(alice, "hello")
                # Presence lives in Redis: server A knows bob is online on server B.
                assert hello["presence"] == {str(ids["alice"]): "online", str(ids["bob"]): "online"}
                arrival = await next_frame(bob, "presence")
                assert arrival == {"type": "presence", "user_id": ids["alice"], "state": "online"}
                await alice.send(json.dumps({"type": "message", "body": "Hello from A"}))
                received = await next_frame(bob, "message")
                await alice.send(json.dumps({"type": "typing"}))
                assert await next_frame(bob, "typing") == {
                    "type": "typing",
                    "user_id": ids["alice"],
                }
            assert await next_frame(bob, "presence") == {
                "type": "presence",
                "user_id": ids["alice"],
                "state": "offline",
            }
            return received

    received = asyncio.run(scenario())["message"]
    assert received["body"] == "Hello from A"
    assert received["sender_id"] == ids["alice"]
    # Stored once, in the database both servers share: server B's API lists it.
    history = httpx.get(
        f"http://{server_b}/api/v1/conversations/{conversation}/messages/",
        cookies={"sessionid": sessions["bob"]},
    )
    assert history.status_code == 200, history.text
    assert [m["id"] for m in history.json()["results"]] == [received["id"]]


def test_real_clients_see_the_refusal_close_code(
    two_servers: list[str], seeded: dict[str, Any]
) -> None:
    async def refused_with(session: str) -> int:
        async with connect(two_servers[1], seeded["conversation"], session) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    assert asyncio.run(refused_with(seeded["sessions"]["stranger"])) == 4403
    assert asyncio.run(refused_with("no-such-session")) == 4401
