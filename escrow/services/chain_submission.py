"""Chain rail: the freelancer delivers work and anchors its digest with ``submit``.

The delivery (message and files) is stored when the transaction is prepared, with the
digest the transaction writes on chain; the milestone stays funded until chain sync
sees that digest in a ``Submitted`` event and anchors the submission to its block.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction

from escrow.chain import transactions as txs
from escrow.chain.transactions import UnsignedTransaction
from escrow.services import audited
from escrow.services import chain_checks as check
from marketplace.models import Milestone, User
from marketplace.services.contracts import lock_milestone
from marketplace.services.milestones import check_files, store_submission
from smartpay import audit

S = Milestone.Status


def submission_digest(
    milestone_id: int, number: int, message: str, file_sha256s: Sequence[str]
) -> str:
    """SHA-256 (hex) of the submission's canonical manifest: milestone id, submission
    number, the message's SHA-256 and each file's SHA-256 in order, as compact JSON with
    sorted keys. Anyone holding the message and files can recompute it and compare it
    with the digest the escrow contract recorded."""
    manifest = {
        "files": list(file_sha256s),
        "message_sha256": hashlib.sha256(message.encode()).hexdigest(),
        "milestone": int(milestone_id),
        "submission": int(number),
    }
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def prepare_submission(
    *,
    actor: User,
    milestone_id: int,
    message: str,
    files: Iterable[Any] = (),
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """The freelancer's ``submit``: the delivery is stored now (files checked as on the
    card rail), the milestone stays funded until sync sees its digest on chain."""
    message = check.checked_text(
        message, required="Describe what you are delivering.", name="message"
    )
    checked = check_files(list(files))
    milestone, escrow, index, _, address = check.milestone_action(
        actor,
        milestone_id,
        roles=("freelancer",),
        statuses=(S.FUNDED,),
        chain_statuses={"Funded"},
        doing="submitted",
        sender=sender,
        chain_id=chain_id,
    )
    stored: list[str] = []
    try:
        with transaction.atomic(durable=True):
            _, locked = lock_milestone(milestone.pk, actor=actor, role="freelancer")
            check.require_status(locked, (S.FUNDED,), "submitted")
            submission = store_submission(locked, actor, message, checked, stored)
            submission.digest = submission_digest(
                locked.pk, submission.number, message, [item.sha256 for item in checked]
            )
            submission.save(update_fields=["digest"])
            after = audit.snapshot(submission, audited.SUBMISSION)
            audit.record(actor, "submission.stored", submission, after=after)
    except BaseException:
        # The rows rolled back; the bytes already in storage must go too.
        for name in stored:
            default_storage.delete(name)
        raise
    return check.milestone_tx(
        txs.submit,
        escrow,
        index,
        address,
        f"Submit work on “{milestone.title}” (submission {submission.number}) and anchor "
        f"its digest {submission.digest}.",
        digest=bytes.fromhex(submission.digest),
    )
