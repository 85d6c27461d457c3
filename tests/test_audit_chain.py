"""Chain sync on the audit log: one entry per state change it applies (the escrow
created, each milestone move), none for logs that change nothing, and a reorg's
rollback recorded per rolled-back log."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.models import ChainLog
from smartpay.models import AuditEntry
from tests.chain.conftest import _deployed, anvil_url, chain, chain_rail
from tests.chain.test_apply_support import Escrowed, S, escrowed

# The chain tests' real anvil node and deployed contract, shared with this module.
__all__ = ["_deployed", "anvil_url", "chain", "chain_rail"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def eth(chain_rail: Any) -> Escrowed:
    return escrowed(chain_rail, "eth", (10**18, 2 * 10**18))


def chain_trail(since: int) -> list[tuple[str, str, str]]:
    rows = AuditEntry.objects.filter(pk__gt=since).order_by("pk")
    return [(entry.action, entry.actor_label, entry.target_id) for entry in rows]


def mark() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_sync_records_each_state_change_it_applies_with_the_party_and_the_transaction(
    eth: Escrowed,
) -> None:
    since = mark()
    eth.create()
    eth.fund(0)
    created, funded = eth.sync()
    first = eth.milestone(0)
    client = eth.contract.client.email
    assert chain_trail(since) == [
        ("chain_escrow.created", "system", str(eth.escrow.pk)),
        ("milestone.funded", client, str(first.pk)),
    ]
    entry = AuditEntry.objects.get(action="milestone.funded")
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["status"], entry.after["status"]) == (S.DRAFT, S.FUNDED)
    assert entry.after["amount"] == str(10**18)  # wei beyond JSON's exact integers
    assert funded.tx_hash in entry.note
    assert created.tx_hash in AuditEntry.objects.get(action="chain_escrow.created").note


def test_a_log_that_changes_nothing_writes_no_entry(eth: Escrowed) -> None:
    since = mark()
    eth.create(contract_id=987_654_321)  # an escrow no SmartPay contract waits for
    (row,) = eth.sync()
    assert row.status == ChainLog.Status.IGNORED
    assert chain_trail(since) == []


def test_rolling_back_applied_logs_after_a_reorg_is_recorded(eth: Escrowed) -> None:
    eth.create()
    eth.fund(0)
    eth.sync()
    since = mark()
    eth.rollback_all()
    trail = chain_trail(since)
    assert [action for action, _, _ in trail] == ["chain_log.rolled_back"] * 2
    assert {target for _, _, target in trail} == {str(row.pk) for row in eth.applied}
    assert eth.milestone(0).status == S.DRAFT
