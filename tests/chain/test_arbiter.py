"""Arbiter resolutions on a real anvil: the platform key sends ``resolve`` through a task,
with nonces, gas, retries and a tracked status (queued → sent → mined → confirmed)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import _state as celery_state
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone
from web3 import Web3

from escrow import ledger
from escrow.chain.arbiter import InvalidShare, resolve_on_chain, split, track_chain_transactions
from escrow.chain.arbiter_outcome import scrub
from escrow.chain.arbiter_send import allocate_nonce, send_chain_transaction
from escrow.chain.sync import sync_chain
from escrow.models import ChainEscrow, ChainTransaction, LedgerAccount
from escrow.tasks_arbiter import track_chain_transactions_task
from marketplace.lifecycle import transition_milestone
from marketplace.models import ARBITERS_GROUP, Contract, Milestone, User
from smartpay.celery import app as celery_app
from smartpay.errors import Conflict, InvalidTransition, NotAllowed
from tests.chain.agreement import open_escrow
from tests.chain.conftest import ETH, REVIEW_PERIOD, Chain, _free_port
from tests.chain.rail import ChainRail
from tests.factories import verified_user

pytestmark = pytest.mark.django_db
Status = ChainTransaction.Status


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery tasks run in the calling thread (no broker, no worker)."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    join_will_block = celery_state.task_join_will_block()  # type: ignore[attr-defined]
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
    celery_state._set_task_join_will_block(join_will_block)  # type: ignore[attr-defined]


@pytest.fixture
def arbiter() -> User:
    user = verified_user(is_staff=True, is_client=False)
    user.groups.add(arbiters_group())
    return User.objects.get(pk=user.pk)


def arbiters_group() -> Group:
    """A transactional test flushes the group the data migration made: make it again."""
    group, _ = Group.objects.get_or_create(name=ARBITERS_GROUP)
    group.permissions.add(Permission.objects.get(codename="resolve_disputes"))
    return group


@pytest.fixture
def admins(settings: Any) -> None:
    settings.ADMINS = [("Ops", "ops@smartpay.test")]


def escrow_on_chain(rail: ChainRail, chain: Chain, disputed: tuple[int, ...] = (0,)) -> Contract:
    """An ETH contract whose escrow is created on chain and accepted; the milestones at
    ``disputed`` positions are funded and disputed, on chain and in our records."""
    contract = rail.contract("eth")
    milestones = list(contract.milestones.order_by("position"))
    ChainEscrow.objects.create(
        contract=contract,
        chain_id=31337,
        onchain_id=contract.pk,
        token=ETH,
        milestone_ids=[m.pk for m in milestones],
        status=ChainEscrow.Status.CREATED,
        client_address=rail.accounts.client,
        freelancer_address=rail.accounts.freelancer,
    )
    chain.create(
        [int(m.amount) for m in milestones],
        contract_id=contract.pk,
        fee_bps=contract.fee_bps,
        review_period=REVIEW_PERIOD,
    )
    for index in disputed:
        chain.fund(contract.pk, index)
        chain.dispute(contract.pk, index)
        with transaction.atomic():
            milestone = Milestone.objects.select_for_update().get(pk=milestones[index].pk)
            transition_milestone(milestone, Milestone.Status.FUNDED, actor=None, note="test")
            transition_milestone(milestone, Milestone.Status.DISPUTED, actor=None, note="test")
    return contract


def milestone_at(contract: Contract, index: int) -> Milestone:
    return contract.milestones.order_by("position")[index]


def arbiter_nonce(rail: ChainRail) -> int:
    return int(
        rail.w3.eth.get_transaction_count(
            Web3.to_checksum_address(rail.accounts.arbiter), "pending"
        )
    )


def automine(rail: ChainRail, on: bool) -> None:
    rail.rpc("evm_setAutomine", [on])


# --- the happy path -----------------------------------------------------------------------


def test_resolution_is_queued_sent_mined_and_confirmed(
    chain_rail: ChainRail,
    chain: Chain,
    arbiter: User,
    eager: None,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.CHAIN_CONFIRMATIONS = 2
    contract = escrow_on_chain(chain_rail, chain)
    milestone = milestone_at(contract, 0)
    freelancer_before = chain.credit(chain_rail.accounts.freelancer)

    with django_capture_on_commit_callbacks() as callbacks:
        row = resolve_on_chain(
            actor=arbiter, milestone_id=milestone.pk, freelancer_bps=7_000, note="Split."
        )
    assert row.status == Status.QUEUED
    assert row.key == f"resolve:31337:{contract.pk}:0"
    assert row.from_address == chain_rail.accounts.arbiter
    assert row.to_address == chain.escrow.address
    assert contract.activity.filter(verb="resolution_queued").exists()

    for callback in callbacks:  # the send task, eagerly
        callback()
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.tx_hash.startswith("0x")
    assert row.nonce == arbiter_nonce(chain_rail) - 1
    assert row.gas is not None
    assert chain.status(contract.pk, 0) == "Resolved"

    track_chain_transactions()
    row.refresh_from_db()
    assert row.status == Status.MINED
    assert row.block_number == chain_rail.w3.eth.block_number

    chain_rail.mine(1)
    track_chain_transactions()
    row.refresh_from_db()
    assert row.status == Status.MINED  # one confirmation of two

    chain_rail.mine(1)
    assert track_chain_transactions_task.apply().get() == {"confirmed": 1}
    row.refresh_from_db()
    assert row.status == Status.CONFIRMED
    assert row.attempts == 1
    assert row.last_error == ""

    net, fee, back = split(int(milestone.amount), 7_000, contract.fee_bps)
    assert chain.credit(chain_rail.accounts.freelancer) - freelancer_before == net
    assert chain.credit(chain_rail.accounts.treasury) >= fee
    assert net + fee + back == int(milestone.amount)


def test_a_confirmed_resolution_reaches_the_ledger_through_chain_sync(
    chain_rail: ChainRail, chain: Chain, arbiter: User, eager: None
) -> None:
    opened = open_escrow(chain_rail)
    chain.fund(opened.onchain_id, 0)
    chain.dispute(opened.onchain_id, 0, by=chain_rail.accounts.freelancer)
    sync_chain()
    milestone = opened.milestone(0)
    assert milestone.status == Milestone.Status.DISPUTED
    row = resolve_on_chain(actor=arbiter, milestone_id=milestone.pk, freelancer_bps=3_333)
    row = send_chain_transaction(row.pk)
    track_chain_transactions()
    row.refresh_from_db()
    assert row.status == Status.CONFIRMED
    sync_chain()
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RESOLVED
    net, fee, back = split(int(milestone.amount), 3_333, opened.contract.fee_bps)
    available = LedgerAccount.Kind.AVAILABLE
    assert ledger.user_account(opened.contract.freelancer, available, "eth").balance == net
    assert ledger.user_account(opened.contract.client, available, "eth").balance == back
    assert ledger.fee_account("eth").balance == fee
    assert ledger.escrow_account(milestone).balance == 0
    # Asking again after the fact returns the confirmed row; nothing is sent twice.
    assert resolve_on_chain(actor=arbiter, milestone_id=milestone.pk, freelancer_bps=3_333) == row


def test_same_share_again_returns_the_same_row_and_another_share_is_a_conflict(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    milestone = milestone_at(contract, 0)
    first = resolve_on_chain(actor=arbiter, milestone_id=milestone.pk, freelancer_bps=2_500)
    again = resolve_on_chain(actor=arbiter, milestone_id=milestone.pk, freelancer_bps=2_500)
    assert again.pk == first.pk
    with pytest.raises(Conflict) as refused:
        resolve_on_chain(actor=arbiter, milestone_id=milestone.pk, freelancer_bps=5_000)
    assert refused.value.status_code == 409
    assert "25 %" in refused.value.detail
    assert ChainTransaction.objects.count() == 1


@pytest.mark.parametrize("bps", [-1, 10_001, 12.5, "half", True])
def test_a_share_outside_0_to_10000_is_refused(
    chain_rail: ChainRail, chain: Chain, arbiter: User, bps: Any
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    with pytest.raises(InvalidShare) as refused:
        resolve_on_chain(
            actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=bps
        )
    assert refused.value.code == "invalid_share"
    assert refused.value.status_code == 400
    assert not ChainTransaction.objects.exists()


def test_only_an_arbiter_who_is_not_a_party_may_resolve(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    milestone = milestone_at(contract, 0)
    plain_staff = verified_user(is_staff=True)
    with pytest.raises(NotAllowed):
        resolve_on_chain(actor=plain_staff, milestone_id=milestone.pk, freelancer_bps=0)
    client = contract.client
    client.is_staff = True
    client.save()
    client.groups.add(arbiters_group())
    with pytest.raises(NotAllowed) as refused:
        resolve_on_chain(
            actor=User.objects.get(pk=client.pk), milestone_id=milestone.pk, freelancer_bps=0
        )
    assert refused.value.code == "party"
    assert not ChainTransaction.objects.exists()


def test_a_milestone_that_is_not_disputed_cannot_be_resolved(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    contract = escrow_on_chain(chain_rail, chain, disputed=(0,))
    with pytest.raises(InvalidTransition):
        resolve_on_chain(actor=arbiter, milestone_id=milestone_at(contract, 1).pk, freelancer_bps=0)
    assert not ChainTransaction.objects.exists()


def test_a_contract_whose_escrow_is_not_created_on_chain_is_refused(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    ChainEscrow.objects.filter(contract=contract).update(status=ChainEscrow.Status.AWAITING)
    with pytest.raises(Conflict) as refused:
        resolve_on_chain(actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=0)
    assert refused.value.code == "escrow_not_created"


# --- nonces -------------------------------------------------------------------------------


@pytest.mark.postgres  # SQLite's in-memory test database locks whole tables across threads
@pytest.mark.django_db(transaction=True)
def test_two_resolutions_sent_at_once_from_two_threads_get_consecutive_nonces(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    contract = escrow_on_chain(chain_rail, chain, disputed=(0, 1))
    rows = [
        resolve_on_chain(
            actor=arbiter, milestone_id=milestone_at(contract, i).pk, freelancer_bps=bps
        )
        for i, bps in ((0, 10_000), (1, 0))
    ]
    start = arbiter_nonce(chain_rail)
    barrier = threading.Barrier(len(rows))
    errors: list[Exception] = []

    def send(tx_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            send_chain_transaction(tx_id)
        except Exception as error:  # noqa: BLE001 (reported by the main thread)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(row.pk,)) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    sent = list(ChainTransaction.objects.order_by("nonce"))
    assert [row.status for row in sent] == [Status.SENT, Status.SENT]
    assert [row.nonce for row in sent] == [start, start + 1]
    assert chain.status(contract.pk, 0) == "Resolved"
    assert chain.status(contract.pk, 1) == "Resolved"


def test_a_nonce_read_before_another_send_is_not_reused(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    """The interleaving the threads above race for, step by step: the second sender
    asked the node before the first one's transaction arrived."""
    contract = escrow_on_chain(chain_rail, chain, disputed=(0, 1))
    first, second = (
        resolve_on_chain(actor=arbiter, milestone_id=milestone_at(contract, i).pk, freelancer_bps=0)
        for i in (0, 1)
    )
    stale = arbiter_nonce(chain_rail)
    assert send_chain_transaction(first.pk).nonce == stale
    assert allocate_nonce(second, stale) == stale + 1
    assert send_chain_transaction(second.pk).nonce == stale + 1
    assert chain.status(contract.pk, 1) == "Resolved"


def test_a_nonce_left_by_a_failed_unsent_row_is_filled_first(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    """A gap below a stored nonce would hold every later transaction in the mempool."""
    contract = escrow_on_chain(chain_rail, chain, disputed=(0, 1))
    first, second = (
        resolve_on_chain(actor=arbiter, milestone_id=milestone_at(contract, i).pk, freelancer_bps=0)
        for i in (0, 1)
    )
    start = arbiter_nonce(chain_rail)
    ChainTransaction.objects.filter(pk=first.pk).update(nonce=start + 1)  # taken, not sent
    assert allocate_nonce(second, start) == start
    assert allocate_nonce(first, start) == start + 1  # a row keeps the nonce it holds


def test_a_transaction_the_node_dropped_is_sent_again_with_its_nonce(
    chain_rail: ChainRail, chain: Chain, arbiter: User
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    automine(chain_rail, False)
    try:
        row = resolve_on_chain(
            actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=5_000
        )
        row = send_chain_transaction(row.pk)
        assert row.status == Status.SENT
        nonce, first_hash = row.nonce, row.tx_hash
        chain_rail.rpc("anvil_dropTransaction", [first_hash])

        track_chain_transactions()  # dropped: queued again, and sent again at once
        row.refresh_from_db()
        assert row.status == Status.SENT
        assert row.nonce == nonce
        assert row.attempts == 2
    finally:
        automine(chain_rail, True)
    chain_rail.mine(1)
    track_chain_transactions()
    row.refresh_from_db()
    assert row.status == Status.CONFIRMED  # the test chain counts 0 confirmations
    assert chain.status(contract.pk, 0) == "Resolved"


# --- faults -------------------------------------------------------------------------------


def test_a_node_that_is_down_during_the_send_is_retried_later(
    chain_rail: ChainRail, chain: Chain, arbiter: User, settings: Any
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    row = resolve_on_chain(
        actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=5_000
    )
    anvil_url = settings.CHAIN_RPC_URL
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    settings.CHAIN_RPC_TIMEOUT_SECONDS = 2
    row = send_chain_transaction(row.pk)
    assert row.status == Status.QUEUED
    assert row.attempts == 1
    assert "node failed" in row.last_error
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > timezone.now()
    assert row.nonce is None
    assert row.tx_hash == ""

    track_chain_transactions()  # not due yet: left alone
    row.refresh_from_db()
    assert row.attempts == 1

    settings.CHAIN_RPC_URL = anvil_url
    track_chain_transactions(now=row.next_attempt_at + timedelta(seconds=1))
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.attempts == 2
    assert row.last_error == ""
    assert chain.status(contract.pk, 0) == "Resolved"


def test_a_resolve_that_would_revert_fails_in_words_and_tells_the_admins(
    chain_rail: ChainRail,
    chain: Chain,
    arbiter: User,
    admins: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    # Already resolved on chain (say, by hand with the platform key).
    chain.send(chain.escrow.functions.resolve(contract.pk, 0, 5_000), chain_rail.accounts.arbiter)
    nonce_before = arbiter_nonce(chain_rail)
    row = resolve_on_chain(
        actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=5_000
    )
    with django_capture_on_commit_callbacks(execute=True):
        row = send_chain_transaction(row.pk)
    assert row.status == Status.FAILED
    assert "InvalidStatus: the milestone is Resolved on chain" in row.last_error
    assert row.nonce is None
    assert row.tx_hash == ""
    assert arbiter_nonce(chain_rail) == nonce_before
    assert row.attempts == 1  # not retried
    assert any("failed" in message.subject for message in mail.outbox)


def test_a_transaction_that_reverts_when_mined_is_failed_with_its_reason(
    chain_rail: ChainRail,
    chain: Chain,
    arbiter: User,
    admins: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    contract = escrow_on_chain(chain_rail, chain)
    row = resolve_on_chain(
        actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=5_000
    )
    automine(chain_rail, False)
    try:
        # Another resolve from the platform key goes first, in the same block.
        chain.escrow.functions.resolve(contract.pk, 0, 1_000).transact(
            {"from": chain_rail.accounts.arbiter}
        )
        row = send_chain_transaction(row.pk)
        assert row.status == Status.SENT
    finally:
        automine(chain_rail, True)
    chain_rail.mine(1)
    with django_capture_on_commit_callbacks(execute=True):
        track_chain_transactions()
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.nonce is not None  # a mined transaction used its nonce
    assert f"reverted in block {row.block_number}" in row.last_error
    assert "InvalidStatus" in row.last_error
    assert any(str(row.pk) in message.subject for message in mail.outbox)


def test_the_arbiter_key_never_reaches_errors_or_logs(
    chain_rail: ChainRail,
    chain: Chain,
    arbiter: User,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = settings.CHAIN_ARBITER_KEY.removeprefix("0x").lower()
    contract = escrow_on_chain(chain_rail, chain, disputed=(0, 1))
    down = resolve_on_chain(
        actor=arbiter, milestone_id=milestone_at(contract, 0).pk, freelancer_bps=0
    )
    anvil_url = settings.CHAIN_RPC_URL
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{_free_port()}"
    send_chain_transaction(down.pk)
    settings.CHAIN_RPC_URL = anvil_url
    chain.send(chain.escrow.functions.resolve(contract.pk, 1, 0), chain_rail.accounts.arbiter)
    reverted = resolve_on_chain(
        actor=arbiter, milestone_id=milestone_at(contract, 1).pk, freelancer_bps=0
    )
    send_chain_transaction(reverted.pk)
    send_chain_transaction(down.pk, now_not_later=True)

    errors = list(ChainTransaction.objects.values_list("last_error", flat=True))
    assert any(errors)
    assert all(key not in error.lower() for error in errors)
    assert caplog.records
    assert key not in caplog.text.lower()
    # Whatever a node or library might echo back is blanked before it is kept.
    assert scrub(f"oops 0x{key.upper()} and {key}") == "oops [redacted] and [redacted]"
