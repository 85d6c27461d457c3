"""/ws/chat/<id>/ through the real ASGI app (auth middleware, origin check, routing) on
the configured channel layer: in-memory, or Redis when REDIS_URL is set."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from marketplace.models import User
from notifications import chat
from notifications.chat_consumer import ChatConsumer
from notifications.models import Conversation, Membership, Message
from smartpay.asgi import application
from tests.factories import PASSWORD, make_user, verified_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

subjects = count(1)


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections(monkeypatch) -> AsyncIterator[None]:
    """ORM calls run on executor threads; close their connections so the test database
    can be flushed and dropped. The consumer's worker threads outlive each test's event
    loop, so their connections close after every call here (no persistent connections)."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    yield
    await sync_to_async(connections.close_all)()


@pytest_asyncio.fixture(autouse=True)
async def _channel_layer_of_this_loop(monkeypatch) -> AsyncIterator[None]:
    """A channel layer per test: channels-redis keeps locks and connections bound to
    the event loop that made them, and every test runs in a loop of its own."""
    monkeypatch.setattr(channel_layers, "backends", {})
    yield
    layer = channel_layers.backends.get("default")
    if layer is not None and hasattr(layer, "close_pools"):
        await layer.close_pools()


# --- helpers -----------------------------------------------------------------------------


@sync_to_async
def conversation_of(*members: User) -> Conversation:
    conversation = Conversation.objects.create(
        subject_type="marketplace.contract", subject_id=str(next(subjects)), kind="contract"
    )
    for member in members:
        chat.add_member(conversation, member)
    return conversation


@sync_to_async
def new_user() -> User:
    return make_user()


@sync_to_async
def session_cookie_for(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


@sync_to_async
def app_token_for() -> tuple[User, str]:
    """A third-party app's session token, from a real login on allauth's app API."""
    user = verified_user()
    login = APIClient().post(
        "/_allauth/app/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    return user, login.json()["meta"]["session_token"]


def socket(
    conversation: Conversation | int,
    cookie: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    query: str = "",
) -> WebsocketCommunicator:
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    all_headers = [(b"origin", b"http://localhost"), *(headers or [])]
    if cookie:
        all_headers.append((b"cookie", cookie))
    path = f"/ws/chat/{conversation_id}/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application, path, headers=all_headers)


async def joined(conversation: Conversation, user: User) -> WebsocketCommunicator:
    """A member's socket, past its hello."""
    communicator = socket(conversation, await session_cookie_for(user))
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    # Joining announces oneself online; that frame comes back too.
    own = {"type": "presence", "user_id": user.pk, "state": "online"}
    assert await communicator.receive_json_from(timeout=5) == own
    return communicator


async def close_code(communicator: WebsocketCommunicator) -> int:
    """The code the server closed with, skipping frames sent before it."""
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return int(output["code"])


async def refusal_code(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted, then closed: browsers only see codes after accepting
    return await close_code(communicator)


async def next_frame(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    """The next frame of ``kind``, skipping others (presence updates as people come and go)."""
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame["type"] == kind:
            return frame


async def send(communicator: WebsocketCommunicator, frame: dict[str, Any]) -> None:
    await communicator.send_to(text_data=json.dumps(frame))


# --- joining -----------------------------------------------------------------------------


async def test_member_joins_and_hears_who_is_online():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    communicator = socket(conversation, await session_cookie_for(alice))
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "hello",
        "conversation_id": conversation.pk,
        "user_id": alice.pk,
        "presence": {str(alice.pk): "online", str(bob.pk): "offline"},
    }
    await communicator.disconnect()


async def test_anonymous_socket_is_closed_with_4401():
    conversation = await conversation_of(await new_user())
    assert await refusal_code(socket(conversation)) == 4401


async def test_non_member_is_closed_with_4403():
    conversation = await conversation_of(await new_user())
    stranger = await new_user()
    assert await refusal_code(socket(conversation, await session_cookie_for(stranger))) == 4403


async def test_missing_conversation_looks_like_someone_elses():
    stranger = await new_user()
    assert await refusal_code(socket(987654, await session_cookie_for(stranger))) == 4403


async def test_app_token_of_a_member_joins_by_header_and_by_query():
    member, token = await app_token_for()
    conversation = await conversation_of(member)
    for communicator in (
        socket(conversation, headers=[(b"authorization", f"Token {token}".encode())]),
        socket(conversation, headers=[(b"authorization", f"Bearer {token}".encode())]),
        socket(conversation, headers=[(b"x-session-token", token.encode())]),
        socket(conversation, query=f"token={token}"),
    ):
        connected, _ = await communicator.connect()
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        assert hello["type"] == "hello"
        assert hello["user_id"] == member.pk
        await communicator.disconnect()


async def test_app_token_of_a_non_member_is_closed_with_4403():
    _, token = await app_token_for()
    conversation = await conversation_of(await new_user())
    assert await refusal_code(socket(conversation, query=f"token={token}")) == 4403


async def test_unknown_token_is_4401_even_with_a_valid_cookie():
    member = await new_user()
    conversation = await conversation_of(member)
    communicator = socket(
        conversation,
        await session_cookie_for(member),
        headers=[(b"authorization", b"Token not-a-session")],
    )
    assert await refusal_code(communicator) == 4401


async def test_socket_closes_with_4401_once_the_session_is_logged_out(monkeypatch):
    monkeypatch.setattr(ChatConsumer, "SESSION_RECHECK_SECONDS", 0.0)
    member, token = await app_token_for()
    conversation = await conversation_of(member)
    communicator = socket(conversation, query=f"token={token}")
    await communicator.connect()
    await next_frame(communicator, "hello")
    logout = await sync_to_async(
        lambda: APIClient().delete("/_allauth/app/v1/auth/session", HTTP_X_SESSION_TOKEN=token)
    )()
    assert logout.status_code == 401  # allauth answers a logout with "now anonymous"
    await send(communicator, {"type": "message", "body": "still here?"})
    assert await close_code(communicator) == 4401
    assert not await sync_to_async(Message.objects.exists)()


async def test_member_removed_while_connected_is_closed_with_4403(monkeypatch):
    monkeypatch.setattr(ChatConsumer, "SESSION_RECHECK_SECONDS", 0.0)
    member = await new_user()
    conversation = await conversation_of(member)
    communicator = await joined(conversation, member)
    await sync_to_async(chat.remove_member)(conversation, member)
    await send(communicator, {"type": "typing"})
    assert await close_code(communicator) == 4403


# --- frames ------------------------------------------------------------------------------


async def test_message_round_trip_is_stored_and_reaches_every_member():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    alice_socket, bob_socket = await joined(conversation, alice), await joined(conversation, bob)
    await send(alice_socket, {"type": "message", "body": "  Draft is up.  "})
    to_alice = await next_frame(alice_socket, "message")
    to_bob = await next_frame(bob_socket, "message")
    assert to_alice == to_bob
    stored = await sync_to_async(Message.objects.get)()
    assert to_bob["message"]["id"] == stored.pk
    assert to_bob["message"]["body"] == stored.body == "Draft is up."
    assert to_bob["message"]["sender_id"] == stored.sender_id == alice.pk
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_message_posted_through_the_api_reaches_sockets():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    bob_socket = await joined(conversation, bob)

    def post() -> int:
        client = APIClient()
        client.force_authenticate(alice)
        response = client.post(
            f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "From the API"}
        )
        assert response.status_code == 201, response.content
        return int(response.json()["id"])

    message_id = await sync_to_async(post)()
    frame = await next_frame(bob_socket, "message")
    assert frame["message"]["id"] == message_id
    assert frame["message"]["body"] == "From the API"
    await bob_socket.disconnect()


async def test_nothing_leaks_to_another_conversation():
    alice, bob = await new_user(), await new_user()
    ours, theirs = await conversation_of(alice), await conversation_of(alice, bob)
    bob_socket = await joined(theirs, bob)
    alice_socket = await joined(ours, alice)
    await send(alice_socket, {"type": "message", "body": "only for ours"})
    await send(alice_socket, {"type": "typing"})
    await send(alice_socket, {"type": "presence", "state": "away"})
    await next_frame(alice_socket, "message")
    assert await bob_socket.receive_nothing(timeout=0.5)
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_too_long_message_is_an_error_frame_and_the_socket_stays_open():
    member = await new_user()
    conversation = await conversation_of(member)
    communicator = await joined(conversation, member)
    await send(communicator, {"type": "message", "body": "x" * (chat.MAX_MESSAGE_CHARS + 1)})
    error = await next_frame(communicator, "error")
    assert error["code"] == "message_too_long"
    await send(communicator, {"type": "message", "body": "short"})
    assert (await next_frame(communicator, "message"))["message"]["body"] == "short"
    assert await sync_to_async(Message.objects.count)() == 1
    await communicator.disconnect()


async def test_typing_reaches_others_not_oneself_and_repeats_are_throttled():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    alice_socket, bob_socket = await joined(conversation, alice), await joined(conversation, bob)
    await next_frame(alice_socket, "presence")  # bob's arrival
    for _ in range(5):
        await send(alice_socket, {"type": "typing"})
    assert await next_frame(bob_socket, "typing") == {"type": "typing", "user_id": alice.pk}
    assert await bob_socket.receive_nothing(timeout=0.5)
    assert await alice_socket.receive_nothing(timeout=0.1)
    assert not await sync_to_async(Message.objects.exists)()
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_read_receipt_is_stored_and_broadcast():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    message = await sync_to_async(chat.post_message)(alice, conversation.pk, "Read me")
    alice_socket, bob_socket = await joined(conversation, alice), await joined(conversation, bob)
    await send(bob_socket, {"type": "read", "message_id": message.pk})
    expected = {"type": "read", "user_id": bob.pk, "message_id": message.pk}
    assert await next_frame(alice_socket, "read") == expected
    membership = await sync_to_async(Membership.objects.get)(user=bob)
    assert membership.last_read_message_id == message.pk
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_read_of_a_message_elsewhere_is_refused():
    alice, bob = await new_user(), await new_user()
    ours, theirs = await conversation_of(alice), await conversation_of(bob)
    foreign = await sync_to_async(chat.post_message)(bob, theirs.pk, "not yours")
    communicator = await joined(ours, alice)
    await send(communicator, {"type": "read", "message_id": foreign.pk})
    assert (await next_frame(communicator, "error"))["code"] == "message_not_found"
    await communicator.disconnect()


async def test_presence_away_and_offline_reach_other_members():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    alice_socket, bob_socket = await joined(conversation, alice), await joined(conversation, bob)
    await send(alice_socket, {"type": "presence", "state": "away"})
    assert await next_frame(bob_socket, "presence") == {
        "type": "presence",
        "user_id": alice.pk,
        "state": "away",
    }
    await alice_socket.disconnect()
    assert await next_frame(bob_socket, "presence") == {
        "type": "presence",
        "user_id": alice.pk,
        "state": "offline",
    }
    await bob_socket.disconnect()


async def test_user_stays_online_while_another_tab_is_open():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    bob_socket = await joined(conversation, bob)
    first_tab, second_tab = await joined(conversation, alice), await joined(conversation, alice)
    await first_tab.disconnect()
    frames = []
    while not await bob_socket.receive_nothing(timeout=0.3):
        frames.append(await bob_socket.receive_json_from())
    assert frames[-1] == {"type": "presence", "user_id": alice.pk, "state": "online"}
    await second_tab.disconnect()
    await bob_socket.disconnect()


# --- bad input ---------------------------------------------------------------------------


async def test_oversized_frame_closes_with_4409_and_stores_nothing():
    member = await new_user()
    conversation = await conversation_of(member)
    communicator = await joined(conversation, member)
    body = "x" * (ChatConsumer.MAX_FRAME_BYTES + 1)
    await send(communicator, {"type": "message", "body": body})
    assert await close_code(communicator) == 4409
    assert not await sync_to_async(Message.objects.exists)()


async def test_flood_gets_error_frames_then_closes_with_4408():
    alice, bob = await new_user(), await new_user()
    conversation = await conversation_of(alice, bob)
    bob_socket = await joined(conversation, bob)
    flooder = await joined(conversation, alice)
    limit = ChatConsumer.MESSAGES_PER_WINDOW
    for number in range(limit):
        await send(flooder, {"type": "message", "body": f"message {number}"})
        await next_frame(flooder, "message")
    for _ in range(ChatConsumer.STRIKES - 1):
        await send(flooder, {"type": "message", "body": "one too many"})
        assert (await next_frame(flooder, "error"))["code"] == "rate_limited"
    await send(flooder, {"type": "message", "body": "and again"})
    assert (await next_frame(flooder, "error"))["code"] == "rate_limited"
    assert await close_code(flooder) == 4408
    assert await sync_to_async(Message.objects.count)() == limit
    # The server and the other member carry on.
    await send(bob_socket, {"type": "message", "body": "still working"})
    bodies = [
        (await next_frame(bob_socket, "message"))["message"]["body"] for _ in range(limit + 1)
    ]
    assert bodies[-1] == "still working"
    await bob_socket.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        json.dumps({"type": "shout", "body": "hi"}),
        json.dumps({"body": "no type"}),
        json.dumps({"type": "read", "message_id": "seven"}),
        json.dumps({"type": "presence", "state": "invisible"}),
    ],
)
async def test_malformed_frames_get_error_frames_then_close_with_4400(frame):
    member = await new_user()
    conversation = await conversation_of(member)
    communicator = await joined(conversation, member)
    for _ in range(ChatConsumer.STRIKES):
        await communicator.send_to(text_data=frame)
        error = await next_frame(communicator, "error")
        assert error["code"] == "malformed"
        assert error["detail"]
    assert await close_code(communicator) == 4400


async def test_binary_frame_is_malformed():
    member = await new_user()
    conversation = await conversation_of(member)
    communicator = await joined(conversation, member)
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await next_frame(communicator, "error"))["code"] == "malformed"
    await communicator.disconnect()
