"""Chat services: conversations, members, messages and read positions.

A conversation belongs to a proposal, contract or dispute, named by a string reference
(``app_label.model`` and a primary key), so the apps above call these services and this
module never imports them. Messages are broadcast to the group ``chat.<id>`` on commit,
whether they came in over the API or a WebSocket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications.chat_files import check_attachment
from notifications.chat_presence import ONLINE, presence_store
from notifications.models import Conversation, Membership, Message
from notifications.services import notify
from smartpay.errors import DomainError, NotAllowed, NotFoundError

MAX_MESSAGE_CHARS = 5000

UserRef = AbstractBaseUser | int


def chat_group(conversation_id: int) -> str:
    return f"chat.{conversation_id}"


def subject_reference(subject: models.Model) -> tuple[str, str]:
    """``("marketplace.contract", "42")`` for a contract with primary key 42."""
    return subject._meta.label_lower, str(subject.pk)


def _user_id(user: UserRef) -> int:
    return user if isinstance(user, int) else int(user.pk)


# --- conversations and members -------------------------------------------------------


def ensure_conversation(
    subject: models.Model,
    kind: str,
    members: Iterable[UserRef] = (),
    title: str = "",
    *,
    url: str = "",
) -> Conversation:
    """Return the conversation about ``subject``, creating it on first call, and make sure
    every one of ``members`` is in it. Safe to call again and from concurrent requests:
    the subject is unique, and members are only ever added."""
    subject_type, subject_id = subject_reference(subject)
    with transaction.atomic():
        conversation = Conversation.objects.filter(
            subject_type=subject_type, subject_id=subject_id
        ).first()
        if conversation is None:
            try:
                with transaction.atomic():
                    conversation = Conversation.objects.create(
                        subject_type=subject_type,
                        subject_id=subject_id,
                        kind=kind,
                        title=title[:300],
                        url=url[:500],
                    )
            except IntegrityError:  # created by a concurrent call
                conversation = Conversation.objects.get(
                    subject_type=subject_type, subject_id=subject_id
                )
        for member in members:
            add_member(conversation, member)
    return conversation


def add_member(conversation: Conversation | int, user: UserRef) -> Membership:
    """Put ``user`` in the conversation (nothing changes if they already are). A new member
    starts with everything already said counted as read."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    user_id = _user_id(user)
    last = _last_message_id(conversation_id)
    membership, _ = Membership.objects.get_or_create(
        conversation_id=conversation_id,
        user_id=user_id,
        defaults={"last_read_message_id": last, "notified_until": last},
    )
    return membership


def remove_member(conversation: Conversation | int, user: UserRef) -> bool:
    """Take ``user`` out of the conversation; ``False`` if they weren't in it."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    deleted, _ = Membership.objects.filter(
        conversation_id=conversation_id, user_id=_user_id(user)
    ).delete()
    return deleted > 0


def membership_of(user: UserRef, conversation_id: int) -> Membership:
    """The user's membership, or ``NotFoundError``: to a stranger a conversation they are
    not in does not exist."""
    membership = (
        Membership.objects.select_related("conversation")
        # By the conversation's pk, not the raw column: an id past the integer range
        # then matches nothing instead of failing in the database driver.
        .filter(conversation__pk=conversation_id, user_id=_user_id(user))
        .first()
    )
    if membership is None:
        raise NotFoundError("No such conversation.", code="conversation_not_found")
    return membership


def is_member(user: UserRef, conversation_id: int) -> bool:
    # By the conversation's pk (range-checked): an id past the integer range is no member.
    return Membership.objects.filter(
        conversation__pk=conversation_id, user_id=_user_id(user)
    ).exists()


# --- messages ------------------------------------------------------------------------


def clean_body(body: Any) -> str:
    """The body to store, or ``DomainError`` (``empty_message`` / ``message_too_long``)."""
    if not isinstance(body, str):
        raise DomainError("A message is text.", code="invalid_message")
    body = body.strip()
    if not body:
        raise DomainError("Write something first.", code="empty_message")
    if len(body) > MAX_MESSAGE_CHARS:
        raise DomainError(
            f"A message is at most {MAX_MESSAGE_CHARS} characters; this one has {len(body)}.",
            code="message_too_long",
        )
    return body


def message_payload(message: Message) -> dict[str, Any]:
    """How a message looks to clients: the WebSocket frame and the API use this shape."""
    sender = message.sender
    attachment = None
    if message.attachment:
        attachment = {
            "name": message.attachment_name,
            "size": message.attachment_size,
            "content_type": message.attachment_content_type,
            # Served by the API to members only, never as a public storage URL.
            "url": reverse("message-attachment", kwargs={"pk": message.pk}),
        }
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "sender_name": display_name(sender) if sender is not None else "",
        "body": message.body,
        "attachment": attachment,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
    }


def display_name(user: Any) -> str:
    """The name other members see: the full name, else the login (the e-mail)."""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return str(full or user.get_username())


def _group_send(conversation_id: int, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(chat_group(conversation_id), event)


def broadcast_message(message: Message) -> None:
    """Send the message to everyone connected to its conversation. Call on commit."""
    _group_send(
        message.conversation_id, {"type": "chat.message", "message": message_payload(message)}
    )


def _broadcast_on_commit(message_id: int) -> None:
    def send() -> None:
        message = Message.objects.select_related("sender").filter(pk=message_id).first()
        if message is not None:
            broadcast_message(message)

    transaction.on_commit(send)


def post_message(
    actor: AbstractBaseUser,
    conversation_id: int,
    body: str,
    attachment: Any = None,
) -> Message:
    """Post ``body`` (and optionally one file) to a conversation ``actor`` is a member of.
    The sender's own read position moves to the new message; members connected over
    WebSocket receive it on commit."""
    body = clean_body(body)
    checked = check_attachment(attachment) if attachment is not None else None
    with transaction.atomic():
        membership = membership_of(actor, conversation_id)
        previous_id = _last_message_id(conversation_id)
        message = Message(conversation_id=conversation_id, sender_id=actor.pk, body=body)
        if checked is not None:
            message.attachment_name = checked.name
            message.attachment_size = checked.size
            message.attachment_content_type = checked.content_type
            message.attachment.save(checked.name, checked.upload, save=False)
        message.save()
        Membership.objects.filter(pk=membership.pk).update(last_read_message_id=message.pk)
        _notify_caught_up_members(membership, previous_id, message)
        _broadcast_on_commit(message.pk)
    return message


def _last_message_id(conversation_id: int) -> int | None:
    return (
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


def _notify_caught_up_members(
    sender_membership: Membership, previous_id: int | None, message: Message
) -> None:
    """One ``new_message`` notification per unread stretch, and none to members who are
    online in the conversation: only members who had read everything before this
    message hear about it; until they read, later messages only add to their unread
    count (the e-mail digest covers members who stay away)."""
    others = Membership.objects.filter(conversation_id=message.conversation_id).exclude(
        pk=sender_membership.pk
    )
    if previous_id is not None:
        others = others.filter(last_read_message_id__gte=previous_id)
    recipients = list(others.values_list("user_id", flat=True))
    if not recipients:
        return
    # Members with the conversation open right now see the message arrive.
    states = async_to_sync(presence_store().states)(message.conversation_id)
    recipients = [user_id for user_id in recipients if states.get(user_id) != ONLINE]
    conversation = sender_membership.conversation
    sender_name = display_name(message.sender) if message.sender is not None else "Someone"
    title = f"{sender_name} wrote in {conversation.title or 'a conversation'}"
    for user_id in recipients:
        notify(
            user_id,
            "new_message",
            title,
            conversation.url,
            target=conversation,
            data={"conversation_id": conversation.pk, "message_id": message.pk},
        )


def edit_message(actor: AbstractBaseUser, message_id: int, body: str) -> Message:
    """Change the text of one's own message and mark it edited. Strangers to the
    conversation get ``NotFoundError``; other members ``NotAllowed``."""
    body = clean_body(body)
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or not is_member(actor, message.conversation_id):
            raise NotFoundError("No such message.", code="message_not_found")
        if message.sender_id != actor.pk:
            raise NotAllowed("Only its sender may edit a message.", code="not_sender")
        if message.body == body:
            return message
        message.body = body
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "edited_at"])
        _broadcast_on_commit(message.pk)
    return message


def mark_read(
    actor: AbstractBaseUser, conversation_id: int, message_id: int, *, announce: bool = False
) -> Membership:
    """Record that ``actor`` has read the conversation up to ``message_id``. The position
    only moves forward: marking an older message changes nothing. With ``announce`` a
    moved position is sent to the conversation's sockets on commit as a read receipt
    (the WebSocket consumer sends its own, so it leaves this off)."""
    with transaction.atomic():
        membership = membership_of(actor, conversation_id)
        if not Message.objects.filter(pk=message_id, conversation_id=conversation_id).exists():
            raise NotFoundError("No such message in this conversation.", code="message_not_found")
        # One conditional UPDATE, so two tabs marking at once can't move it backwards.
        moved = (
            Membership.objects.filter(pk=membership.pk)
            .filter(Q(last_read_message_id__isnull=True) | Q(last_read_message_id__lt=message_id))
            .update(last_read_message_id=message_id)
        )
        membership.refresh_from_db(fields=["last_read_message_id"])
        if moved and announce:
            receipt = {"type": "chat.read", "user_id": actor.pk, "message_id": message_id}
            transaction.on_commit(lambda: _group_send(conversation_id, receipt))
    return membership


def unread_count(user: UserRef, conversation: Conversation | int) -> int:
    """Messages from others after the user's read position (0 for non-members)."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    user_id = _user_id(user)
    membership = Membership.objects.filter(conversation_id=conversation_id, user_id=user_id).first()
    if membership is None:
        return 0
    messages = Message.objects.filter(conversation_id=conversation_id).exclude(sender_id=user_id)
    if membership.last_read_message_id is not None:
        messages = messages.filter(id__gt=membership.last_read_message_id)
    return messages.count()
