"""Recording what an attempt to send a platform-key transaction came to: sent, a retry
after a backoff, or failed for good (the admins are mailed). Every message kept or
logged passes ``scrub``, so the arbiter key can never reach the database or a log.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from escrow.models import ChainTransaction
from escrow.services import audited
from smartpay import audit

log = logging.getLogger(__name__)
Status = ChainTransaction.Status

MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(seconds=15)
BACKOFF_CAP = timedelta(minutes=30)
MESSAGE_LIMIT = 500


def record_sent(tx_id: int) -> None:
    ChainTransaction.objects.filter(pk=tx_id, status=Status.QUEUED).update(
        status=Status.SENT, next_attempt_at=None, last_error="", updated_at=timezone.now()
    )


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after ``attempts`` failed ones: 15 s, 30 s, 1 min …"""
    return min(BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 12), BACKOFF_CAP)


def record_retry(tx_id: int, message: str, now: datetime) -> ChainTransaction:
    with transaction.atomic():
        row = ChainTransaction.objects.select_for_update().get(pk=tx_id)
        if row.status != Status.QUEUED:
            return row
        if row.attempts >= MAX_ATTEMPTS:
            return _fail(row, f"Gave up after {row.attempts} attempts: {message}")
        row.last_error = message[:MESSAGE_LIMIT]
        row.next_attempt_at = now + backoff(row.attempts)
        row.save(update_fields=["last_error", "next_attempt_at", "updated_at"])
    log.warning(
        "chain transaction %s: attempt %s failed, retrying: %s", tx_id, row.attempts, message
    )
    return row


def record_failed(tx_id: int, message: str, *, release_nonce: bool) -> ChainTransaction:
    """Mark a row failed for good and tell the admins. ``release_nonce``: the nonce was
    never used on chain, so the next transaction may take it."""
    with transaction.atomic():
        row = ChainTransaction.objects.select_for_update().get(pk=tx_id)
        if row.status in (Status.CONFIRMED, Status.FAILED):
            return row
        if release_nonce:
            row.nonce = None
            row.tx_hash = ""
        return _fail(row, message)


def _fail(row: ChainTransaction, message: str) -> ChainTransaction:
    """Inside the caller's transaction, with ``row`` locked."""
    before = audit.snapshot(row, audited.CHAIN_TRANSACTION)
    row.status = Status.FAILED
    row.last_error = scrub(message)[:MESSAGE_LIMIT]
    row.next_attempt_at = None
    row.save()
    audit.record(
        None,
        "chain_transaction.failed",
        row,
        before=before,
        after=audit.snapshot(row, audited.CHAIN_TRANSACTION),
        note=row.last_error,
    )
    log.error("chain transaction %s (%s) failed: %s", row.pk, row.key, row.last_error)
    subject = f"Chain transaction {row.pk} failed: {row.key}"
    body = (
        f"The platform key's {row.kind} transaction {row.pk} ({row.key}) failed.\n\n"
        f"{row.last_error}\n\nTransaction hash: {row.tx_hash or '(never broadcast)'}\n"
        "See Chain transactions in the admin; “Retry now” queues it again."
    )
    transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    return row


def scrub(text: str) -> str:
    """``text`` with the arbiter key (in any spelling) blanked out."""
    key = str(settings.CHAIN_ARBITER_KEY or "")
    bare = key.removeprefix("0x").removeprefix("0X")
    if len(bare) < 16:
        return text
    lowered = text.lower()
    needle = bare.lower()
    out, start = [], 0
    while (found := lowered.find(needle, start)) != -1:
        cut = found - 2 if lowered[max(found - 2, 0) : found] == "0x" else found
        out.append(text[start:cut])
        out.append("[redacted]")
        start = found + len(needle)
    out.append(text[start:])
    return "".join(out)
