"""Chat and notification routes whose objects are private, for
tests/test_cross_user_access.py.

Each maker builds a conversation ``owner`` is the only member of, or a notification of
``owner``'s, and returns the route's kwargs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.models import User
from notifications.chat import post_message
from notifications.models import Notification
from tests.notifications.chat_helpers import make_conversation


def _conversation_pk(owner: User) -> dict[str, object]:
    return {"pk": make_conversation(owner).pk}


def _message_pk(owner: User) -> dict[str, object]:
    conversation = make_conversation(owner)
    upload = SimpleUploadedFile("notes.txt", b"Private notes")
    return {"pk": post_message(owner, conversation.pk, "Private", attachment=upload).pk}


def _conversation_subject(owner: User) -> dict[str, object]:
    conversation = make_conversation(owner)
    return {"subject_type": conversation.subject_type, "subject_id": conversation.subject_id}


def _notification_pk(owner: User) -> dict[str, object]:
    return {"pk": Notification.objects.create(user=owner, verb="review", title="Private").pk}


CHAT_PRIVATE: dict[str, Callable[[User], dict[str, object]]] = {
    "conversation-messages": _conversation_pk,
    "conversation-read": _conversation_pk,
    "message-detail": _message_pk,
    "message-attachment": _message_pk,
    "chat_panel": _conversation_subject,
    "notification-read": _notification_pk,
    "notification_read": _notification_pk,
}
