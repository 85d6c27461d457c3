"""/ws/notifications/ through the real ASGI app: session login, origin check, push."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from notifications.push import push_to_user
from smartpay.asgi import application
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections() -> AsyncIterator[None]:
    """sync_to_async runs ORM calls on one executor thread; close its connection
    so the test database can be dropped."""
    yield
    await sync_to_async(connections.close_all)()


def session_cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def socket(cookie: bytes | None, origin: bytes = b"http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


async def test_logged_in_user_receives_pushed_notifications():
    user = await sync_to_async(make_user)()
    cookie = await sync_to_async(session_cookie_for)(user)
    communicator = socket(cookie)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {
        "type": "hello",
        "user_id": user.pk,
        "unread": 0,
    }
    await sync_to_async(push_to_user)(user.pk, {"type": "unread", "unread": 3})
    message = await communicator.receive_json_from(timeout=5)
    assert message == {"type": "unread", "unread": 3}
    await communicator.disconnect()


async def test_other_users_pushes_do_not_arrive():
    user, other = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    communicator = socket(await sync_to_async(session_cookie_for)(user))
    await communicator.connect()
    await communicator.receive_json_from()
    await sync_to_async(push_to_user)(other.pk, {"type": "unread", "unread": 1})
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_anonymous_socket_is_closed_with_4401():
    communicator = socket(None)
    connected, _ = await communicator.connect()
    assert connected  # accepted, then closed: browsers only see codes after accepting
    output = await communicator.receive_output(timeout=5)
    assert (output["type"], output["code"]) == ("websocket.close", 4401)


async def test_foreign_origin_is_refused():
    user = await sync_to_async(make_user)()
    communicator = socket(
        await sync_to_async(session_cookie_for)(user), origin=b"https://evil.example"
    )
    connected, _ = await communicator.connect()
    assert not connected
