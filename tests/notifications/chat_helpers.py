"""Conversations for chat tests: a proposal's, with its client and freelancer."""

from __future__ import annotations

from notifications.chat import ensure_conversation
from notifications.models import Conversation
from tests.factories import make_proposal


def make_conversation(*members, title: str = "Proposal: a dashboard") -> Conversation:
    """A proposal conversation whose members are exactly ``members``."""
    return ensure_conversation(make_proposal(), "proposal", members, title)
