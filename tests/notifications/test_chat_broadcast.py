"""Messages posted through the services (so through the API too) reach group
``chat.<id>`` on the real channel layer — in-memory, or Redis when REDIS_URL is set —
and only once the transaction commits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from rest_framework.test import APIClient

from notifications import chat
from tests.factories import make_user
from tests.notifications.chat_helpers import make_conversation

pytestmark = pytest.mark.django_db


class GroupReceiver:
    """A channel in a conversation's group, as a connected socket would be. It keeps
    one event loop: channels-redis binds a channel's receive queue to the loop that
    first receives on it."""

    def __init__(self, conversation_id: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer = get_channel_layer()
        self.channel = self.loop.run_until_complete(self.layer.new_channel())
        self.loop.run_until_complete(
            self.layer.group_add(chat.chat_group(conversation_id), self.channel)
        )

    def events(self, wait: float = 0.3) -> list[dict]:
        async def drain() -> list[dict]:
            found: list[dict] = []
            while True:
                try:
                    found.append(await asyncio.wait_for(self.layer.receive(self.channel), wait))
                except TimeoutError:
                    return found

        return self.loop.run_until_complete(drain())


@pytest.fixture
def receiver_for() -> Iterator[Callable[[int], GroupReceiver]]:
    """``receiver_for(conversation_id)`` joins that conversation's group."""
    made: list[GroupReceiver] = []

    def make(conversation_id: int) -> GroupReceiver:
        made.append(GroupReceiver(conversation_id))
        return made[-1]

    yield make
    for receiver in made:
        receiver.loop.close()


def test_the_layer_in_use_matches_the_settings():
    backend = str(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    assert type(get_channel_layer()).__module__.split(".")[0] == backend.split(".")[0]


def test_an_api_post_is_broadcast_to_the_group_on_commit(
    django_capture_on_commit_callbacks, receiver_for
):
    client, freelancer = make_user(), make_user()
    conversation = make_conversation(client, freelancer)
    other = make_conversation(client, freelancer)
    receiver, bystander = receiver_for(conversation.pk), receiver_for(other.pk)
    api = APIClient()
    api.force_authenticate(client)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "Hi"})
    assert receiver.events(wait=0.1) == []  # nothing before commit
    for callback in callbacks:
        callback()

    events = receiver.events()
    assert events == [{"type": "chat.message", "message": response.json()}]
    assert events[0]["message"]["body"] == "Hi"
    assert bystander.events(wait=0.1) == []


def test_a_rolled_back_post_is_not_broadcast(django_capture_on_commit_callbacks, receiver_for):
    client = make_user()
    conversation = make_conversation(client)
    receiver = receiver_for(conversation.pk)

    def post_then_fail() -> None:
        with transaction.atomic():
            chat.post_message(client, conversation.pk, "Never mind")
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        post_then_fail()
    assert receiver.events(wait=0.1) == []


def test_an_edit_is_broadcast_with_its_edit_mark(django_capture_on_commit_callbacks, receiver_for):
    client = make_user()
    conversation = make_conversation(client)
    message = chat.post_message(client, conversation.pk, "Draft is uo")
    receiver = receiver_for(conversation.pk)
    with django_capture_on_commit_callbacks(execute=True):
        chat.edit_message(client, message.pk, "Draft is up")
    [event] = receiver.events()
    assert event["message"]["id"] == message.pk
    assert event["message"]["body"] == "Draft is up"
    assert event["message"]["edited_at"] is not None


def test_a_read_through_the_api_is_sent_as_a_read_receipt(
    django_capture_on_commit_callbacks, receiver_for
):
    client, freelancer = make_user(), make_user()
    conversation = make_conversation(client, freelancer)
    message = chat.post_message(client, conversation.pk, "Read me")
    receiver = receiver_for(conversation.pk)
    api = APIClient()
    api.force_authenticate(freelancer)
    url = f"/api/v1/conversations/{conversation.pk}/read/"
    with django_capture_on_commit_callbacks(execute=True):
        api.post(url, {"message_id": message.pk})
        api.post(url, {"message_id": message.pk})  # no move, no second receipt
    assert receiver.events() == [
        {"type": "chat.read", "user_id": freelancer.pk, "message_id": message.pk}
    ]
