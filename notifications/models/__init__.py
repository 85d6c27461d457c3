"""Notifications' data: notifications and preferences (``notifications``), conversations
and messages (``chat``). Notifications know users, not contracts: what a row is about
is a string reference (``app_label.model`` and a primary key)."""

from notifications.models.chat import Conversation, Membership, Message
from notifications.models.notifications import Channel, Notification, NotificationPreference

__all__ = [
    "Channel",
    "Conversation",
    "Membership",
    "Message",
    "Notification",
    "NotificationPreference",
]
