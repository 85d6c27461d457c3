"""/ws/notifications/ says how many are unread on connect, and carries notify()'s rows
live once their transaction commits."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections, transaction
from django.test import Client

from notifications.models import Notification
from notifications.services import mark_all_read, notify
from smartpay.asgi import application
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections() -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


def session_cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def open_socket(user) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie_for)(user)
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def notify_and_commit(user_id: int, title: str) -> Notification:
    with transaction.atomic():
        notification = notify(user_id, "review", title, "/reviews/")
    assert notification is not None
    return notification


def unread_rows(user, count: int) -> None:
    for number in range(count):
        Notification.objects.create(user=user, verb="review", title=f"Old {number}")


async def test_hello_carries_the_unread_count():
    user, other = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    await sync_to_async(unread_rows)(user, 3)
    await sync_to_async(unread_rows)(other, 2)  # someone else's are not counted
    communicator = await open_socket(user)
    assert await communicator.receive_json_from() == {
        "type": "hello",
        "user_id": user.pk,
        "unread": 3,
    }
    await communicator.disconnect()


async def test_a_committed_notification_arrives_with_the_new_count():
    user = await sync_to_async(make_user)()
    communicator = await open_socket(user)
    assert (await communicator.receive_json_from())["unread"] == 0
    notification = await sync_to_async(notify_and_commit)(user.pk, "Reviewed")
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "notification"
    assert frame["unread"] == 1
    assert frame["notification"]["id"] == notification.pk
    assert frame["notification"]["title"] == "Reviewed"
    assert frame["notification"]["read"] is False
    await sync_to_async(mark_all_read)(user_id=user.pk)
    assert await communicator.receive_json_from(timeout=5) == {"type": "unread", "unread": 0}
    await communicator.disconnect()


async def test_the_socket_refuses_frames_from_the_client_and_stays_open():
    user = await sync_to_async(make_user)()
    communicator = await open_socket(user)
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "read", "id": 1})
    assert (await communicator.receive_json_from())["code"] == "read_only"
    await sync_to_async(notify_and_commit)(user.pk, "Still listening")
    assert (await communicator.receive_json_from(timeout=5))["unread"] == 1
    await communicator.disconnect()
