"""Conversations: one per proposal, contract or dispute. A conversation holds its
members and refers to what it belongs to by a string reference (``app_label.model``
and a primary key), so notifications never import the apps above it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    class Kind(models.TextChoices):
        PROPOSAL = "proposal", "Proposal"
        CONTRACT = "contract", "Contract"
        DISPUTE = "dispute", "Dispute"

    subject_type = models.CharField(max_length=100, help_text="app_label.model")
    subject_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="The page it belongs on.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id"], name="conversation_subject_unique"
            )
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} {self.subject_id}"


class Membership(models.Model):
    """A user in a conversation, and how far they have read."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    # Message ids only grow, so "read up to id N" is the whole read state.
    last_read_message_id = models.BigIntegerField(null=True, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)
    notified_until = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Last message id covered by an e-mail digest to this member.",
    )

    class Meta:
        ordering = ["conversation_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="membership_conversation_user_unique"
            )
        ]

    def __str__(self) -> str:
        return f"User {self.user_id} in conversation {self.conversation_id}"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chat_messages",
        help_text="Empty for system messages.",
    )
    body = models.TextField()
    attachment = models.FileField(upload_to="chat/%Y/%m/", blank=True)
    attachment_name = models.CharField(max_length=255, blank=True)
    attachment_size = models.PositiveBigIntegerField(null=True, blank=True)
    attachment_content_type = models.CharField(max_length=100, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"], name="message_conversation_id")]

    def __str__(self) -> str:
        return f"Message {self.pk} in conversation {self.conversation_id}"
