"""The chat API: conversations with unread counts, history by cursor, posting, editing,
read positions and attachments; strangers get 404."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from notifications import chat
from notifications.models import Membership, Message
from tests.factories import make_user
from tests.notifications.chat_helpers import make_conversation

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def pair():
    return make_user(), make_user()


@pytest.fixture
def conversation(pair):
    return make_conversation(*pair)


def test_conversation_list_shows_mine_with_unread_counts_in_constant_queries(
    pair, django_assert_max_num_queries
):
    client, freelancer = pair
    mine = [make_conversation(client, freelancer) for _ in range(2)]
    chat.post_message(freelancer, mine[0].pk, "New draft")
    make_conversation(freelancer)
    api = client_for(client)

    response = api.get("/api/v1/conversations/")
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert set(rows) == {conversation.pk for conversation in mine}
    assert rows[mine[0].pk]["unread"] == 1
    assert rows[mine[1].pk]["unread"] == 0
    assert rows[mine[0].pk]["kind"] == "proposal"

    with django_assert_max_num_queries(4) as few:
        api.get("/api/v1/conversations/")
    for _ in range(5):
        chat.post_message(freelancer, make_conversation(client, freelancer).pk, "Hi")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get("/api/v1/conversations/").json()["results"]) == 7


def test_history_cursor_walks_every_message_once_across_pages(pair, conversation):
    client, _ = pair
    ids = [chat.post_message(client, conversation.pk, f"m{n}").pk for n in range(12)]
    api = client_for(client)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"

    seen: list[int] = []
    page = api.get(url, {"limit": 5}).json()
    pages = 0
    while True:
        pages += 1
        batch = [message["id"] for message in page["results"]]
        assert batch == sorted(batch)  # oldest first within a page
        seen = batch + seen
        if page["next_before"] is None:
            break
        assert page["next_before"] == batch[0]
        page = api.get(url, {"limit": 5, "before": page["next_before"]}).json()
    assert seen == ids
    assert pages == 3


def test_history_of_exactly_one_page_has_no_next_cursor(pair, conversation):
    client, _ = pair
    for n in range(3):
        chat.post_message(client, conversation.pk, f"m{n}")
    page = client_for(client).get(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"limit": 3}
    )
    assert len(page.json()["results"]) == 3
    assert page.json()["next_before"] is None


def test_history_refuses_a_bad_limit(pair, conversation):
    response = client_for(pair[0]).get(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"limit": 1000}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_posting_returns_the_message_and_moves_my_read_position(pair, conversation):
    client, freelancer = pair
    response = client_for(client).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "  Draft is up.  "}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["body"] == "Draft is up."
    assert body["sender_id"] == client.pk
    assert body["edited_at"] is None
    assert (
        Membership.objects.get(conversation=conversation, user=client).last_read_message_id
        == (body["id"])
    )
    assert chat.unread_count(freelancer, conversation) == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"body": ""}, "empty_message"),
        ({}, "empty_message"),
        ({"body": "x" * 5001}, "message_too_long"),
    ],
)
def test_empty_and_oversized_bodies_are_400_with_a_code(pair, conversation, payload, code):
    response = client_for(pair[0]).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", payload
    )
    assert response.status_code == 400
    assert set(response.json()) == {"code", "detail"}
    assert response.json()["code"] == code
    assert not Message.objects.exists()


def test_a_file_can_be_posted_and_downloaded_by_members_only(pair, conversation, tmp_media):
    client, freelancer = pair
    upload = SimpleUploadedFile("brief.pdf", b"%PDF-1.7 brief", content_type="application/pdf")
    response = client_for(client).post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "The brief", "file": upload},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    attachment = response.json()["attachment"]
    assert attachment["name"] == "brief.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == 14

    download = client_for(freelancer).get(attachment["url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    assert content == b"%PDF-1.7 brief"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert client_for(make_user()).get(attachment["url"]).status_code == 404


def test_a_disallowed_file_is_400(pair, conversation, tmp_media):
    response = client_for(pair[0]).post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "Run this", "file": SimpleUploadedFile("run.exe", b"MZ")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "file_type_not_allowed"


def test_editing_marks_the_message_and_others_may_not(pair, conversation):
    client, freelancer = pair
    message = chat.post_message(client, conversation.pk, "Draft is uo")
    url = f"/api/v1/messages/{message.pk}/"

    refused = client_for(freelancer).patch(url, {"body": "Mine now"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_sender"

    too_long = client_for(client).patch(url, {"body": "x" * 5001})
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "message_too_long"

    edited = client_for(client).patch(url, {"body": "Draft is up"})
    assert edited.status_code == 200
    assert edited.json()["body"] == "Draft is up"
    assert edited.json()["edited_at"] is not None
    assert client_for(freelancer).get(url).json()["edited_at"] is not None


def test_read_moves_forward_only(pair, conversation):
    client, freelancer = pair
    first, second = (chat.post_message(client, conversation.pk, text) for text in ("a", "b"))
    api = client_for(freelancer)
    url = f"/api/v1/conversations/{conversation.pk}/read/"

    assert api.post(url, {"message_id": second.pk}).json() == {
        "conversation_id": conversation.pk,
        "last_read_message_id": second.pk,
        "unread": 0,
    }
    assert api.post(url, {"message_id": first.pk}).json()["last_read_message_id"] == second.pk
    missing = api.post(url, {"message_id": second.pk + 100})
    assert missing.status_code == 404


def test_strangers_get_404_everywhere_and_change_nothing(pair, conversation, tmp_media):
    client, _ = pair
    message = chat.post_message(client, conversation.pk, "Private")
    stranger = client_for(make_user())
    base = f"/api/v1/conversations/{conversation.pk}"

    assert stranger.get(f"{base}/messages/").status_code == 404
    assert stranger.post(f"{base}/messages/", {"body": "Hi"}).status_code == 404
    assert stranger.post(f"{base}/messages/", {"body": ""}).status_code == 404
    assert stranger.post(f"{base}/read/", {"message_id": message.pk}).status_code == 404
    assert stranger.get(f"/api/v1/messages/{message.pk}/").status_code == 404
    assert stranger.patch(f"/api/v1/messages/{message.pk}/", {"body": "Hacked"}).status_code == 404
    assert stranger.get("/api/v1/conversations/").json()["results"] == []
    assert list(Message.objects.values_list("body", flat=True)) == ["Private"]


def test_anonymous_requests_are_401(conversation):
    response = APIClient().get(f"/api/v1/conversations/{conversation.pk}/messages/")
    assert response.status_code == 401


def test_a_full_page_at_the_largest_limit_still_points_to_the_older_one(pair, conversation):
    client, _ = pair
    Message.objects.bulk_create(
        Message(conversation=conversation, sender=client, body=f"m{n}") for n in range(101)
    )
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    page = client_for(client).get(url, {"limit": 100}).json()
    assert len(page["results"]) == 100
    oldest = Message.objects.order_by("id").first()
    assert page["next_before"] == page["results"][0]["id"] == oldest.pk + 1  # type: ignore[union-attr]
    last = client_for(client).get(url, {"limit": 100, "before": page["next_before"]}).json()
    assert [m["id"] for m in last["results"]] == [oldest.pk]  # type: ignore[union-attr]
    assert last["next_before"] is None
