"""Chat services: membership, limits, edits, read positions, unread counts, and the
``new_message`` notification."""

from __future__ import annotations

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from notifications import chat
from notifications.chat_selectors import conversations_for, history
from notifications.models import Conversation, Membership, Message, Notification
from smartpay.errors import DomainError, NotAllowed, NotFoundError
from tests.factories import make_proposal, make_user
from tests.notifications.chat_helpers import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    return make_user(), make_user()


def test_ensure_conversation_is_one_per_subject_and_only_adds_members(pair):
    client, freelancer = pair
    proposal = make_proposal()
    first = chat.ensure_conversation(proposal, "proposal", [client], "Proposal: dashboard")
    again = chat.ensure_conversation(proposal, "proposal", [client, freelancer.pk], "Other")

    assert again.pk == first.pk
    assert Conversation.objects.count() == 1
    assert (first.subject_type, first.subject_id) == ("marketplace.proposal", str(proposal.pk))
    assert first.title == "Proposal: dashboard"
    assert set(first.memberships.values_list("user_id", flat=True)) == {client.pk, freelancer.pk}


def test_add_member_twice_keeps_one_membership_and_remove_member_takes_it_away(pair):
    client, freelancer = pair
    conversation = make_conversation(client)
    chat.add_member(conversation, freelancer)
    chat.add_member(conversation.pk, freelancer.pk)
    assert Membership.objects.filter(conversation=conversation, user=freelancer).count() == 1

    assert chat.remove_member(conversation, freelancer) is True
    assert chat.remove_member(conversation, freelancer) is False
    with pytest.raises(NotFoundError):
        chat.post_message(freelancer, conversation.pk, "Still here?")


def test_a_new_member_starts_with_the_history_read(pair):
    client, freelancer = pair
    conversation = make_conversation(client)
    chat.post_message(client, conversation.pk, "Before you came")
    chat.add_member(conversation, freelancer)
    assert chat.unread_count(freelancer, conversation) == 0


def test_only_members_post_and_nothing_is_written_for_strangers(pair):
    client, freelancer = pair
    conversation = make_conversation(client)
    with pytest.raises(NotFoundError) as refused:
        chat.post_message(freelancer, conversation.pk, "Let me in")
    assert refused.value.code == "conversation_not_found"
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [("", "empty_message"), ("   \n", "empty_message"), ("x" * 5001, "message_too_long")],
)
def test_bodies_outside_the_limits_are_refused(pair, body, code):
    client, _ = pair
    conversation = make_conversation(client)
    with pytest.raises(DomainError) as refused:
        chat.post_message(client, conversation.pk, body)
    assert refused.value.code == code
    assert not Message.objects.exists()


def test_a_message_of_exactly_the_limit_is_kept_whole(pair):
    client, _ = pair
    conversation = make_conversation(client)
    message = chat.post_message(client, conversation.pk, "x" * chat.MAX_MESSAGE_CHARS)
    message.refresh_from_db()
    assert len(message.body) == chat.MAX_MESSAGE_CHARS


def test_an_attachment_is_stored_with_its_name_size_and_type(pair, tmp_media):
    client, _ = pair
    conversation = make_conversation(client)
    upload = SimpleUploadedFile("notes.txt", b"Chapter one is done.", content_type="image/png")
    message = chat.post_message(client, conversation.pk, "Notes attached", attachment=upload)
    message.refresh_from_db()

    assert message.attachment_name == "notes.txt"
    assert message.attachment_size == 20
    assert message.attachment_content_type == "text/plain"  # the extension decides
    with message.attachment.open("rb") as stored:
        assert stored.read() == b"Chapter one is done."


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("tool.exe", b"MZ\x90\x00", "file_type_not_allowed"),
        ("photo.png", b"not a png at all", "file_type_not_allowed"),
        ("notes.txt", b"\x00\x01binary", "file_type_not_allowed"),
    ],
)
def test_attachments_of_the_wrong_kind_are_refused(pair, tmp_media, name, content, code):
    client, _ = pair
    conversation = make_conversation(client)
    with pytest.raises(DomainError) as refused:
        chat.post_message(
            client, conversation.pk, "See file", attachment=SimpleUploadedFile(name, content)
        )
    assert refused.value.code == code
    assert not Message.objects.exists()


def test_an_oversized_attachment_is_refused(pair, tmp_media, monkeypatch):
    monkeypatch.setattr("notifications.chat_files.MAX_ATTACHMENT_BYTES", 10)
    client, _ = pair
    conversation = make_conversation(client)
    with pytest.raises(DomainError) as refused:
        chat.post_message(
            client, conversation.pk, "Big", attachment=SimpleUploadedFile("a.txt", b"x" * 11)
        )
    assert refused.value.code == "file_too_large"


def test_editing_marks_the_message_and_only_its_sender_may(pair):
    client, freelancer = pair
    conversation = make_conversation(client, freelancer)
    message = chat.post_message(client, conversation.pk, "Draft is uo")
    assert message.edited_at is None

    with pytest.raises(NotAllowed):
        chat.edit_message(freelancer, message.pk, "Rewritten by someone else")
    stranger = make_user()
    with pytest.raises(NotFoundError):
        chat.edit_message(stranger, message.pk, "Hello")
    with pytest.raises(DomainError) as refused:
        chat.edit_message(client, message.pk, "")
    assert refused.value.code == "empty_message"

    edited = chat.edit_message(client, message.pk, "Draft is up")
    edited.refresh_from_db()
    assert edited.body == "Draft is up"
    assert edited.edited_at is not None


def test_read_position_only_moves_forward(pair):
    client, freelancer = pair
    conversation = make_conversation(client, freelancer)
    first, second, third = (
        chat.post_message(client, conversation.pk, text) for text in ("one", "two", "three")
    )
    assert chat.unread_count(freelancer, conversation) == 3

    assert chat.mark_read(freelancer, conversation.pk, second.pk).last_read_message_id == second.pk
    assert chat.unread_count(freelancer, conversation) == 1
    assert chat.mark_read(freelancer, conversation.pk, first.pk).last_read_message_id == second.pk
    assert chat.mark_read(freelancer, conversation.pk, third.pk).last_read_message_id == third.pk
    assert chat.unread_count(freelancer, conversation) == 0


def test_marking_a_message_of_another_conversation_is_refused(pair):
    client, freelancer = pair
    mine = make_conversation(client, freelancer)
    elsewhere = make_conversation(client)
    foreign = chat.post_message(client, elsewhere.pk, "Not for you")
    with pytest.raises(NotFoundError):
        chat.mark_read(freelancer, mine.pk, foreign.pk)
    assert Membership.objects.get(conversation=mine, user=freelancer).last_read_message_id is None


def test_own_messages_are_never_unread_but_system_messages_are(pair):
    client, freelancer = pair
    conversation = make_conversation(client, freelancer)
    chat.post_message(client, conversation.pk, "Mine")
    Message.objects.create(conversation=conversation, sender=None, body="Offer sent.")
    assert chat.unread_count(client, conversation) == 1
    assert chat.unread_count(freelancer, conversation) == 2


def test_conversations_for_counts_unread_in_one_query(pair, django_assert_num_queries):
    client, freelancer = pair
    conversations = [make_conversation(client, freelancer) for _ in range(3)]
    for number, conversation in enumerate(conversations):
        for index in range(number + 1):
            chat.post_message(freelancer, conversation.pk, f"Message {index}")
    chat.mark_read(client, conversations[2].pk, conversations[2].messages.first().pk)  # type: ignore[union-attr]
    make_conversation(freelancer)  # not the client's

    with django_assert_num_queries(1):
        rows = list(conversations_for(client))
    # Most recently active first.
    unread = [(row.pk, row.unread) for row in rows]  # type: ignore[attr-defined]
    assert unread == [
        (conversations[2].pk, 2),
        (conversations[1].pk, 2),
        (conversations[0].pk, 1),
    ]
    with django_assert_num_queries(1):
        caught_up = {row.unread for row in conversations_for(freelancer)}  # type: ignore[attr-defined]
    assert caught_up == {0}


def test_history_pages_backwards_by_id(pair):
    client, _ = pair
    conversation = make_conversation(client)
    ids = [chat.post_message(client, conversation.pk, f"m{n}").pk for n in range(7)]
    assert [m.pk for m in history(conversation, None, 3)] == ids[4:]
    assert [m.pk for m in history(conversation, ids[4], 3)] == ids[1:4]
    assert [m.pk for m in history(conversation, ids[1], 3)] == ids[:1]
    assert history(conversation, ids[0], 3) == []


def test_new_message_notifies_once_per_unread_stretch(pair, django_capture_on_commit_callbacks):
    client, freelancer = pair
    conversation = make_conversation(client, freelancer)
    with django_capture_on_commit_callbacks(execute=True):
        first = chat.post_message(client, conversation.pk, "Are you there?")
        chat.post_message(client, conversation.pk, "Hello?")
    notes = Notification.objects.filter(user=freelancer, verb="new_message")
    assert notes.count() == 1
    assert notes.get().data == {"conversation_id": conversation.pk, "message_id": first.pk}
    assert not Notification.objects.filter(user=client).exists()

    chat.mark_read(freelancer, conversation.pk, conversation.messages.last().pk)  # type: ignore[union-attr]
    chat.post_message(client, conversation.pk, "One more")
    assert notes.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_ensure_conversation_makes_one_conversation_with_every_member():
    proposal = make_proposal()
    people = [make_user() for _ in range(4)]
    barrier = threading.Barrier(len(people))
    made: list[int] = []

    def ensure(person) -> None:
        try:
            barrier.wait()
            made.append(chat.ensure_conversation(proposal, "proposal", [person]).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=ensure, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == len(people)
    assert len(set(made)) == 1
    assert Conversation.objects.count() == 1
    assert set(Membership.objects.values_list("user_id", flat=True)) == {p.pk for p in people}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reads_never_move_the_position_backwards():
    client, freelancer = make_user(), make_user()
    conversation = make_conversation(client, freelancer)
    ids = [chat.post_message(client, conversation.pk, f"m{n}").pk for n in range(8)]
    barrier = threading.Barrier(len(ids))

    def read(message_id: int) -> None:
        try:
            barrier.wait()
            chat.mark_read(freelancer, conversation.pk, message_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=read, args=(message_id,)) for message_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    membership = Membership.objects.get(conversation=conversation, user=freelancer)
    assert membership.last_read_message_id == ids[-1]
