"""Notifications' Celery tasks: thin, they call ``notifications.emails``."""

from __future__ import annotations

import smtplib
import socket

from celery import shared_task

from notifications import emails
from smartpay.periodic import run_periodic

SEND_TIME_LIMIT = 60
DIGEST_TIME_LIMIT = 600

# What a retry can cure: the mail server refusing for now, or the network.
TRANSIENT_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError, socket.timeout)


@shared_task(
    name="notifications.send_email",
    acks_late=True,  # safe to repeat: emailed_at is claimed once
    time_limit=SEND_TIME_LIMIT,
    soft_time_limit=SEND_TIME_LIMIT - 10,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
)
def send_notification_email(notification_id: int) -> bool:
    """Mail one notification (at most once)."""
    return emails.send_notification_email(notification_id)


@shared_task(
    name="notifications.send_message_digests",
    time_limit=DIGEST_TIME_LIMIT,
    soft_time_limit=DIGEST_TIME_LIMIT - 30,
)
def send_message_digests() -> int | None:
    """Mail members who are away a digest of the chat messages they missed; returns how
    many digests went out. Beat runs it every few minutes; a second beat (or a slow run
    overlapping the next) finds the lock taken and returns None, and
    ``notified_until`` is claimed per membership anyway."""
    return run_periodic(
        "notifications-message-digests",
        emails.send_message_digests,
        time_limit=DIGEST_TIME_LIMIT,
        describe=lambda sent: f"{sent} digest(s) sent" if sent else "",
    )
