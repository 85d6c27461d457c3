"""A chain event our records cannot follow is saved FAILED with the reason, leaves
nothing half-written, and ADMINS are told once the row is committed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.db import transaction

from escrow import ledger
from escrow.chain.apply import apply_log
from escrow.chain.apply_common import transfer_key
from escrow.chain.node import ChainUnavailable
from escrow.models import ChainLog
from marketplace.models import Milestone
from tests.chain.conftest import DIGEST
from tests.chain.test_apply_support import Escrowed, S, copy_log, escrowed, history, snapshot

FAILED = ChainLog.Status.FAILED


@pytest.fixture
def eth(chain_rail: Any, settings: Any) -> Escrowed:
    settings.ADMINS = [("Ops", "ops@example.test")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    e = escrowed(chain_rail, "eth", (10**18, 2 * 10**18))
    e.create()
    e.sync()
    return e


def apply_committed(row: ChainLog, capture: Any) -> ChainLog:
    with capture(execute=True), transaction.atomic():
        apply_log(row)
    return row


def test_an_impossible_transition_fails_writes_nothing_and_mails_admins(
    eth: Escrowed, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    a = eth.rail.accounts
    eth.fund(0)
    eth.call("submit", 0, DIGEST, sender=a.freelancer)
    funded_row, submitted_row = eth.new_logs()  # sync missed the Funded log
    state, counted = snapshot(), history()
    row = apply_committed(submitted_row, django_capture_on_commit_callbacks)
    assert row.status == FAILED
    assert row.pk is not None
    assert row.note == (
        f"invalid_transition: Submitted in block {row.block_number} cannot apply: "
        "“Milestone 1” is not funded yet."
    )
    assert (row.transfer_keys, row.undo) == ([], {})
    assert row.escrow == eth.escrow
    assert (snapshot(), history()) == (state, counted)
    (message,) = mail.outbox
    assert message.to == ["ops@example.test"]
    assert f"Chain log {row.pk} failed: Submitted" in message.subject
    assert row.note in message.body
    assert row.tx_hash in message.body
    assert settings.CHAIN_ARBITER_KEY.removeprefix("0x") not in message.body
    assert funded_row.pk is None


def test_a_payout_larger_than_the_escrow_fails_and_moves_nothing(
    eth: Escrowed, django_capture_on_commit_callbacks: Any
) -> None:
    eth.fund(1)
    eth.call("release", 1, 2 * 10**18, sender=eth.rail.accounts.client)
    _, released = eth.new_logs()  # the Funded log never applied
    state, counted = snapshot(), history()
    row = apply_committed(released, django_capture_on_commit_callbacks)
    assert row.status == FAILED
    assert row.note.startswith("chain_log_rejected: The escrow of “Milestone 2” holds Ξ0.000000")
    assert (snapshot(), history()) == (state, counted)
    assert len(mail.outbox) == 1


def test_funding_that_differs_from_the_milestone_fails(
    eth: Escrowed, django_capture_on_commit_callbacks: Any
) -> None:
    eth.fund(0)
    (funded,) = eth.new_logs()
    Milestone.objects.filter(pk=eth.escrow.milestone_ids[0]).update(amount=5 * 10**17)
    row = apply_committed(funded, django_capture_on_commit_callbacks)
    assert row.status == FAILED
    assert "Funded Ξ1.000000 but “Milestone 1” is Ξ0.500000." in row.note
    assert eth.milestone(0).status == S.DRAFT


def test_a_failure_after_the_first_writes_leaves_nothing_half_written(
    eth: Escrowed, django_capture_on_commit_callbacks: Any
) -> None:
    """Released moves the status and the freelancer's share before the fee; when the
    fee's key turns out to be taken, the savepoint takes back the earlier writes too."""
    eth.fund(0)
    eth.call("release", 0, 10**18, sender=eth.rail.accounts.client)
    funded, released = eth.new_logs()
    apply_committed(funded, django_capture_on_commit_callbacks)
    ledger.move(
        source=ledger.external_account("chain", "eth"),
        destination=ledger.user_account(eth.contract.client, "available", "eth"),
        amount=1,
        key=transfer_key(released, "fee"),
    )
    state, counted = snapshot(), history()
    row = apply_committed(released, django_capture_on_commit_callbacks)
    assert row.status == FAILED
    assert row.note.startswith("transfer_key_reused:")
    assert (snapshot(), history()) == (state, counted)
    assert eth.milestone(0).status == S.FUNDED


def test_a_programming_error_propagates_and_the_callers_transaction_undoes_it(
    eth: Escrowed, django_capture_on_commit_callbacks: Any
) -> None:
    a = eth.rail.accounts
    eth.fund(0)
    eth.call("submit", 0, DIGEST, sender=a.freelancer)
    funded, submitted = eth.new_logs()
    apply_committed(funded, django_capture_on_commit_callbacks)
    bad = copy_log(submitted, args={**submitted.args, "reviewDeadline": "soon"})
    state, counted = snapshot(), history()
    with pytest.raises(ValueError, match="soon"), transaction.atomic():
        apply_log(bad)
    assert (snapshot(), history()) == (state, counted)
    assert not ChainLog.objects.filter(tx_hash=submitted.tx_hash).exists()


def test_no_mail_when_the_callers_transaction_rolls_back(
    eth: Escrowed, django_capture_on_commit_callbacks: Any
) -> None:
    a = eth.rail.accounts
    eth.fund(0)
    eth.call("submit", 0, DIGEST, sender=a.freelancer)
    _, submitted = eth.new_logs()

    def sync_that_stops_before_commit() -> None:
        with transaction.atomic():
            apply_log(submitted)
            raise RuntimeError("sync stopped before commit")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        sync_that_stops_before_commit()
    assert mail.outbox == []
    assert not ChainLog.objects.filter(tx_hash=submitted.tx_hash).exists()


def test_incomplete_chain_settings_raise_and_save_nothing(chain_rail: Any, settings: Any) -> None:
    """Not the log's fault: sync must retry it once the settings are fixed."""
    e = escrowed(chain_rail, "eth", (10**18,))
    e.create()
    (row,) = e.new_logs()
    settings.CHAIN_TREASURY_ADDRESS = ""
    with pytest.raises(ChainUnavailable), transaction.atomic():
        apply_log(row)
    assert not ChainLog.objects.exists()
    settings.CHAIN_TREASURY_ADDRESS = chain_rail.accounts.treasury
    with transaction.atomic():
        apply_log(row)
    assert row.status == ChainLog.Status.APPLIED
