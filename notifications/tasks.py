"""Notifications' Celery tasks: thin, they call ``notifications.emails``."""

from __future__ import annotations

import smtplib
import socket
import uuid

from celery import shared_task
from django.core.cache import cache

from notifications import emails

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
def send_message_digests() -> int:
    """Mail members who are away a digest of the chat messages they missed. Beat runs
    it every few minutes; a second beat (or a slow run overlapping the next) finds the
    lock taken and does nothing, and ``notified_until`` is claimed per membership anyway.
    """
    key = "notifications:periodic-lock:message-digests"
    token = uuid.uuid4().hex
    if not cache.add(key, token, DIGEST_TIME_LIMIT):
        return 0
    try:
        return emails.send_message_digests()
    finally:
        if cache.get(key) == token:
            cache.delete(key)
