"""Reads for chat: a user's conversations with unread counts, and history by cursor."""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from notifications.chat import UserRef, _user_id
from notifications.models import Conversation, Message

MAX_HISTORY_LIMIT = 100
DEFAULT_HISTORY_LIMIT = 50


def conversations_for(user: UserRef) -> QuerySet[Conversation]:
    """The conversations ``user`` is in, most recently active first, each annotated with
    ``last_read_message_id``, ``last_message_id`` and ``unread`` (messages from others
    after the read position) — all in one query."""
    user_id = _user_id(user)
    unread = (
        Message.objects.filter(
            conversation_id=OuterRef("pk"),
            id__gt=Coalesce(OuterRef("last_read_message_id"), Value(0)),
        )
        .exclude(sender_id=user_id)
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last = Message.objects.filter(conversation_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    return (
        Conversation.objects.filter(memberships__user_id=user_id)
        .annotate(
            # The membership joined by the filter above: the user's own row.
            last_read_message_id=F("memberships__last_read_message_id"),
            last_message_id=Subquery(last),
        )
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
        .order_by(F("last_message_id").desc(nulls_last=True), "-pk")
    )


def history(
    conversation: Conversation | int,
    before_id: int | None = None,
    limit: int = DEFAULT_HISTORY_LIMIT,
) -> list[Message]:
    """Up to ``limit`` messages older than ``before_id`` (the newest ones when it is
    ``None``), oldest first. The next page is ``before_id=<first message's id>``."""
    return history_page(conversation, before_id, limit)[0]


def history_page(
    conversation: Conversation | int,
    before_id: int | None = None,
    limit: int = DEFAULT_HISTORY_LIMIT,
) -> tuple[list[Message], int | None]:
    """``history`` and the cursor of the page before it: the ``before_id`` to pass next,
    or ``None`` when these are the oldest messages."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    limit = max(1, min(limit, MAX_HISTORY_LIMIT))
    messages = Message.objects.filter(conversation_id=conversation_id).select_related("sender")
    if before_id is not None:
        messages = messages.filter(id__lt=before_id)
    # One extra row says whether an older page exists.
    page = list(messages.order_by("-id")[: limit + 1])
    older = len(page) > limit
    page = page[:limit]
    page.reverse()
    return page, (page[0].pk if older else None)
