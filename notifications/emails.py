"""E-mail: which notifications are mailed, how a mail is rendered, sending one
notification's mail exactly once, and the digest of chat messages missed while away.

Every mail has a subject, a text body and an HTML body rendered from
``templates/email/<name>_subject.txt``, ``<name>.txt`` and ``<name>.html``; the bodies
extend ``email/base.txt`` / ``email/base.html`` (the site's layout, with inline CSS
because mail clients drop stylesheets). The action link is ``SITE_URL`` plus the
notification's ``url``; amounts and dates come from its ``title`` and ``data`` as the
service that notified wrote them (formatted there, at the edge, once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Max, Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from notifications import preferences
from notifications.chat_presence import ONLINE, presence_store
from notifications.models import Channel, Conversation, Membership, Message, Notification

log = logging.getLogger(__name__)

# verb -> template base name under templates/email/. A verb listed here is mailed by
# default (``notifications.preferences``); the others are in-app only.
EMAIL_VERBS: dict[str, str] = {
    # marketplace
    "proposal_submitted": "proposal_received",
    "offer_sent": "offer_received",
    "offer_accepted": "offer_accepted",
    "job_invite": "notification",
    # escrow
    "milestone_funded": "milestone_funded",
    "milestone_submitted": "work_submitted",
    "revision_requested": "revision_requested",
    "approval_reminder": "approval_reminder",
    "payment_released": "payment_released",
    "milestone_released": "payment_released",  # released by the escrow contract on chain
    "payment_failed": "notification",
    "refund_requested": "notification",
    "refund_failed": "notification",
    "payout": "payout_update",  # sent, failed or reversed: the title says which
    "payout_sent": "payout_sent",
    "payout_failed": "payout_failed",
    # disputes
    "dispute_opened": "dispute_opened",
    "milestone_disputed": "dispute_opened",  # opened on chain
    "dispute_reminder": "dispute_response_due",
    "dispute_decided": "dispute_decision",
    "dispute_resolved": "dispute_decision",
    "dispute_appealed": "notification",
    "dispute_escalated": "notification",
    "dispute_assigned": "notification",
    # chat: never one mail per message; the digest task batches them (see below)
    "new_message": "message_digest",
}

# The preference that governs the chat digest. Listed in EMAIL_VERBS so the digest is on
# by default, but a notification row with this verb is never mailed on its own.
DIGEST_VERB = "new_message"

# ``data`` keys shown as a small table under the text, in this order.
FACT_LABELS: dict[str, str] = {
    "job": "Job",
    "milestone": "Milestone",
    "amount": "Amount",
    "fee": "Platform fee",
    "net": "To the freelancer",
    "due": "Due by",
    "releases_on": "Released automatically on",
    "decision": "Decision",
}

# Where a mail's footer sends people to change what they get, and where the digest
# sends them when it lists several conversations (the first URL name that exists).
PREFERENCES_PAGES = ("notification_preferences",)
CONVERSATIONS_PAGES = ("dashboard",)

# How far back a digest looks: older unread messages (before this feature, or of
# someone away for long) are not mailed, and the query stays bounded.
DIGEST_LOOKBACK = timedelta(days=2)

# Where the digest links a conversation, by what the conversation is about. URL names
# only: notifications never import the apps above it.
CONVERSATION_PAGES: dict[str, str] = {
    "marketplace.proposal": "proposal_detail",
    "marketplace.contract": "contract_workroom",
    "disputes.dispute": "dispute_detail",
}


def absolute(path: str) -> str:
    """``SITE_URL`` + a site path; an absolute URL is returned as it is."""
    if not path or path.startswith(("http://", "https://")):
        return path
    return f"{settings.SITE_URL}{path if path.startswith('/') else '/' + path}"


def _page(*names: str) -> str:
    """The absolute URL of the first of these URL names the site has."""
    for name in names:
        try:
            return absolute(reverse(name))
        except NoReverseMatch:
            continue
    return absolute("/")


def base_context() -> dict[str, Any]:
    """What every mail's layout uses."""
    return {"site_url": settings.SITE_URL, "preferences_url": _page(*PREFERENCES_PAGES)}


def render_email(verb: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render ``verb``'s mail: (one-line subject, text body, HTML body). The context is
    added to the layout's (site and preferences links); a verb without a template of
    its own uses the generic one."""
    name = EMAIL_VERBS.get(verb, "notification")
    full = {**base_context(), **context}
    subject = " ".join(render_to_string(f"email/{name}_subject.txt", full).split())
    full["subject"] = subject
    text = render_to_string(f"email/{name}.txt", full)
    html = render_to_string(f"email/{name}.html", full)
    return subject, text, html


def notification_context(notification: Notification) -> dict[str, Any]:
    data = notification.data if isinstance(notification.data, dict) else {}
    facts = [(label, data[key]) for key, label in FACT_LABELS.items() if data.get(key)]
    return {
        "notification": notification,
        "user": notification.user,
        "data": data,
        "facts": facts,
        "detail": data.get("detail", ""),
        "action_url": absolute(notification.url),
    }


def _send(to: str, subject: str, text: str, html: str) -> None:
    message = EmailMultiAlternatives(subject, text, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def send_notification_email(notification_id: int) -> bool:
    """Mail one notification to its user, at most once. Returns True if this call sent it.

    Skipped when already mailed, when the verb has no template, when the user has no
    address or has turned this verb's e-mail off. ``emailed_at`` is claimed with a
    conditional UPDATE, so two workers running the same task send one mail; if sending
    fails the claim is given back and the error propagates for the task to retry.
    """
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None or notification.emailed_at is not None:
        return False
    user = notification.user
    if notification.verb not in EMAIL_VERBS or notification.verb == DIGEST_VERB:
        return False
    if not user.email or not user.is_active:
        return False
    if not preferences.wants(user.pk, notification.verb, Channel.EMAIL):
        return False
    claimed_at = timezone.now()
    claimed = Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
        emailed_at=claimed_at
    )
    if claimed != 1:
        return False  # another worker has it
    try:
        subject, text, html = render_email(notification.verb, notification_context(notification))
        _send(user.email, subject, text, html)
    except Exception:
        Notification.objects.filter(pk=notification.pk, emailed_at=claimed_at).update(
            emailed_at=None
        )
        raise
    return True


# --- digest of chat messages missed while away ----------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    membership_id: int
    covered_until: int  # the membership's notified_until before this digest
    new_until: int  # the newest message id this digest covers
    title: str
    unread: int
    latest_sender: str
    url: str


def digest_minutes() -> int:
    return int(getattr(settings, "CHAT_DIGEST_MINUTES", 15))


def _conversation_url(conversation: Conversation) -> str:
    """The page the conversation lives on (recorded when it was created), else the page
    of what it is about."""
    if getattr(conversation, "url", ""):
        return absolute(conversation.url)
    name = CONVERSATION_PAGES.get(conversation.subject_type)
    if name:
        try:
            return absolute(reverse(name, args=[conversation.subject_id]))
        except NoReverseMatch:
            pass
    return _page(*CONVERSATIONS_PAGES)


def _sender_name(user: Any) -> str:
    if user is None:
        return "SmartPay"
    name = getattr(user, "display_name", "") or user.get_full_name()
    return str(name or user.get_username())


class Presence:
    """Who has a conversation open right now, read once per conversation per run."""

    def __init__(self) -> None:
        self.store = presence_store()
        self.states: dict[int, dict[int, str]] = {}

    def online_in_any(self, user_id: int, memberships: Iterable[Membership]) -> bool:
        for membership in memberships:
            conversation_id = membership.conversation_id
            if conversation_id not in self.states:
                self.states[conversation_id] = async_to_sync(self.store.states)(conversation_id)
            if self.states[conversation_id].get(user_id) == ONLINE:
                return True
        return False


@dataclass(frozen=True)
class DigestWindow:
    """Messages written in (since, until] can start a digest: old enough that the member
    had time to read them on the site, recent enough to be worth a mail."""

    since: datetime
    until: datetime

    @classmethod
    def ending(cls, now: datetime) -> DigestWindow:
        until = now - timedelta(minutes=digest_minutes())
        return cls(since=until - DIGEST_LOOKBACK, until=until)


def _digest_lines(
    user_id: int, memberships: Iterable[Membership], window: DigestWindow
) -> list[DigestLine]:
    """One line per conversation with unread messages from others, if at least one of
    them is newer than the last digest and inside ``window``."""
    lines = []
    for membership in memberships:
        read = membership.last_read_message_id or 0
        covered = membership.notified_until or 0
        unread = Message.objects.filter(
            conversation_id=membership.conversation_id, id__gt=read
        ).exclude(sender_id=user_id)
        due = unread.filter(
            id__gt=covered, created_at__gt=window.since, created_at__lte=window.until
        )
        if not due.exists():
            continue
        newest = unread.order_by("-id").select_related("sender").first()
        assert newest is not None
        lines.append(
            DigestLine(
                membership_id=membership.pk,
                covered_until=membership.notified_until or 0,
                new_until=newest.pk,
                title=str(membership.conversation),
                unread=unread.count(),
                latest_sender=_sender_name(newest.sender),
                url=_conversation_url(membership.conversation),
            )
        )
    return lines


def _claim(lines: list[DigestLine]) -> list[DigestLine]:
    """Advance each membership's ``notified_until`` if nobody else did meanwhile; the
    lines whose UPDATE changed a row are this run's to mail."""
    claimed = []
    for line in lines:
        previous = Q(notified_until=line.covered_until)
        if line.covered_until == 0:
            previous |= Q(notified_until__isnull=True)
        changed = (
            Membership.objects.filter(pk=line.membership_id)
            .filter(previous)
            .update(notified_until=line.new_until)
        )
        if changed == 1:
            claimed.append(line)
    return claimed


def _unclaim(lines: list[DigestLine]) -> None:
    for line in lines:
        Membership.objects.filter(pk=line.membership_id, notified_until=line.new_until).update(
            notified_until=line.covered_until or None
        )


def send_digest_to(user: Any, memberships: list[Membership], window: DigestWindow) -> bool:
    """One mail listing the user's conversations with messages they missed."""
    lines = _claim(_digest_lines(user.pk, memberships, window))
    if not lines:
        return False
    total = sum(line.unread for line in lines)
    context = {
        "user": user,
        "conversations": lines,
        "total": total,
        "action_url": lines[0].url if len(lines) == 1 else _page(*CONVERSATIONS_PAGES),
    }
    try:
        subject, text, html = render_email(DIGEST_VERB, context)
        _send(user.email, subject, text, html)
    except Exception:
        _unclaim(lines)
        raise
    return True


def send_message_digests(*, now: datetime | None = None) -> int:
    """Mail each member who is away a digest of unread messages older than
    ``CHAT_DIGEST_MINUTES``, once per message: ``notified_until`` then moves past them.
    Returns how many mails were sent."""
    window = DigestWindow.ending(now or timezone.now())
    # Candidates: memberships whose conversation has a message in the window past both
    # the read position and the last digest. Checked exactly per member below.
    in_window = Q(
        conversation__messages__created_at__gt=window.since,
        conversation__messages__created_at__lte=window.until,
    )
    waiting = (
        Membership.objects.annotate(newest=Max("conversation__messages__id", filter=in_window))
        .filter(newest__isnull=False)
        .filter(Q(last_read_message_id__isnull=True) | Q(newest__gt=F("last_read_message_id")))
        .filter(Q(notified_until__isnull=True) | Q(newest__gt=F("notified_until")))
        .select_related("conversation")
        .order_by("user_id", "conversation_id")
    )
    by_user: dict[int, list[Membership]] = {}
    for membership in waiting:
        by_user.setdefault(membership.user_id, []).append(membership)
    users = get_user_model().objects.in_bulk(list(by_user))
    presence = Presence()
    sent = 0
    for user_id, memberships in by_user.items():
        user = users.get(user_id)
        if user is None or not user.email or not user.is_active:
            continue
        # Someone with one of these conversations open sees the messages arrive.
        if presence.online_in_any(user_id, memberships):
            continue
        if not preferences.wants(user_id, DIGEST_VERB, Channel.EMAIL):
            continue
        try:
            sent += send_digest_to(user, memberships, window)
        except Exception:
            log.exception("chat digest to user %s failed; the next run tries again", user_id)
    return sent
