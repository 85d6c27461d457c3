"""The bell's count: ``{% unread_notifications as unread %}`` (one query, logged in only)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db import DatabaseError

from notifications.selectors import unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: dict[str, Any]) -> int | None:
    """None when it can't be counted (the error page of a failed database call must
    still render); the script fills it in once its socket says hello."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return None
    try:
        return unread_count(user.pk)
    except DatabaseError:
        return None


@register.filter
def unread_words(count: int | None) -> str:
    """The count as people read it: "(no unread)", "(1 unread)", "(12 unread)"."""
    if count is None:
        return ""
    return f"({count} unread)" if count else "(no unread)"
