"""The chat panel: an htmx fragment the contract workroom and the proposal page load
for their conversation. It renders the last messages, the members and their presence,
read receipts and the send form; ``static/js/chat.js`` keeps it live over the socket."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from notifications import chat
from notifications.chat_presence import OFFLINE, presence_store
from notifications.chat_selectors import history
from notifications.models import Conversation, Membership

PANEL_MESSAGES = 30


def _presence(conversation_id: int) -> dict[int, str]:
    """Who is connected now; everyone is offline if the store cannot be read."""
    try:
        return async_to_sync(presence_store().states)(conversation_id)
    except OSError:
        return {}


@login_required
@require_GET
def chat_panel(request: HttpRequest, subject_type: str, subject_id: str) -> HttpResponse:
    """The conversation about ``subject_type``/``subject_id`` as the signed-in member sees
    it; 404 to anyone who is not a member (and when there is no such conversation)."""
    assert request.user.pk is not None  # login_required ran
    user_id = int(request.user.pk)
    conversation = Conversation.objects.filter(
        subject_type=subject_type, subject_id=subject_id, memberships__user_id=user_id
    ).first()
    if conversation is None:
        raise Http404("No such conversation.")
    memberships = list(
        Membership.objects.filter(conversation=conversation)
        .select_related("user")
        .order_by("joined_at", "pk")
    )
    messages = [
        {**chat.message_payload(m), "created": m.created_at}
        for m in history(conversation, None, PANEL_MESSAGES)
    ]
    states = _presence(conversation.pk)
    members: list[dict[str, Any]] = [
        {
            "id": m.user_id,
            "name": chat.display_name(m.user),
            "state": states.get(m.user_id, OFFLINE),
            "last_read_message_id": m.last_read_message_id,
            "is_me": m.user_id == user_id,
        }
        for m in memberships
    ]
    last_id = messages[-1]["id"] if messages else None
    seen_by = [
        member["name"]
        for member in members
        if not member["is_me"]
        and last_id is not None
        and member["last_read_message_id"] is not None
        and member["last_read_message_id"] >= last_id
    ]
    context = {
        "conversation": conversation,
        "messages": messages,
        "members": members,
        "seen_by": seen_by,
        "unread": chat.unread_count(user_id, conversation),
        "me": user_id,
        "messages_url": reverse("conversation-messages", kwargs={"pk": conversation.pk}),
        "read_url": reverse("conversation-read", kwargs={"pk": conversation.pk}),
        "ws_path": f"/ws/chat/{conversation.pk}/",
    }
    return render(request, "notifications/_chat_panel.html", context)
