"""Wei amounts with every digit significant and re-keyed escrow ids past 2**128, read
back exactly. PostgreSQL only: SQLite keeps 15 significant digits of a decimal
(Django's converter) and stores integers past 2**63 as floats."""

from __future__ import annotations

from typing import Any

import pytest

from escrow import ledger
from escrow.chain.terms import REKEY_STRIDE
from escrow.models import ChainLog, Transfer
from tests.chain.test_apply_support import (
    Escrowed,
    available,
    escrowed,
    external,
    fees,
    held,
)

pytestmark = pytest.mark.postgres
APPLIED = ChainLog.Status.APPLIED
FIRST, SECOND = 10**18 + 7, 2 * 10**18 + 3


@pytest.fixture
def eth(chain_rail: Any) -> Escrowed:
    e = escrowed(chain_rail, "eth", (FIRST, SECOND))
    e.create()
    e.fund(0)
    e.fund(1)
    e.sync()
    return e


def test_odd_wei_releases_and_resolutions_lose_no_wei(eth: Escrowed) -> None:
    a = eth.rail.accounts
    eth.call("release", 0, FIRST - 1, sender=a.client)
    eth.call("dispute", 1, sender=a.client)
    eth.call("resolve", 1, 3_333, sender=a.arbiter)
    released, _, resolved = eth.sync()
    assert all(r.status == APPLIED for r in (released, resolved))
    parts = {
        r.event: [int(r.args[k]) for k in ("freelancerAmount", "fee", "clientRefund")]
        for r in (released, resolved)
    }
    assert sum(parts["Released"]) == FIRST
    assert sum(parts["Resolved"]) == SECOND
    assert parts["Released"][2] == 1
    assert available(eth.contract.freelancer, "eth") == parts["Released"][0] + parts["Resolved"][0]
    assert fees("eth") == parts["Released"][1] + parts["Resolved"][1]
    assert available(eth.contract.client, "eth") == parts["Released"][2] + parts["Resolved"][2]
    assert held(eth.milestone(0)) == held(eth.milestone(1)) == 0
    assert -external("eth") == FIRST + SECOND
    legs = Transfer.objects.filter(
        idempotency_key__in=released.transfer_keys + resolved.transfer_keys
    )
    assert sum(int(t.amount) for t in legs) == FIRST + SECOND
    assert not ledger.find_problems()
    eth.rollback_all()  # everything, the creation and fundings too
    assert available(eth.contract.freelancer, "eth") == available(eth.contract.client, "eth") == 0
    assert fees("eth") == external("eth") == 0
    assert held(eth.milestone(0)) == held(eth.milestone(1)) == 0
    assert not ledger.find_problems()


def test_a_rekeyed_id_is_exact_and_the_client_creates_under_it(chain_rail: Any) -> None:
    e = escrowed(chain_rail, "eth", (FIRST,))
    e.create(sender=chain_rail.accounts.stranger)
    (squat,) = e.sync()
    assert squat.status == ChainLog.Status.IGNORED
    assert e.onchain_id == e.contract.pk + REKEY_STRIDE  # read back from the row
    e.create()  # under the id the row now holds
    e.fund(0, onchain_id=e.onchain_id)
    created, funded = e.sync()
    assert (created.status, funded.status) == (APPLIED, APPLIED)
    assert held(e.milestone(0)) == FIRST
