"""Sending a queued platform-key transaction: claim, nonce, gas, fees, sign, broadcast.

One worker claims a row with a conditional UPDATE that pushes ``next_attempt_at`` a
lease ahead (the row stays ``queued``; a worker that dies mid-send frees it when the
lease runs out). No lock is held while the node is called: the nonce is taken in a
short transaction of its own, and the signed transaction's hash is stored before it
is broadcast, so a retry first asks the node whether the transaction already arrived.

The private key (``CHAIN_ARBITER_KEY``) is read only to sign. It is never stored,
logged or put into an error: every message that leaves this module passes ``scrub``,
and signing failures are re-raised without their cause.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception

from escrow.chain import node
from escrow.chain.arbiter_errors import revert_in_words
from escrow.chain.arbiter_outcome import record_failed, record_retry, record_sent, scrub
from escrow.models import ChainDeployment, ChainTransaction

log = logging.getLogger(__name__)
Status = ChainTransaction.Status

# Longer than a send can take (a handful of RPC calls, each bounded by
# CHAIN_RPC_TIMEOUT_SECONDS) and than the send task's time limit.
LEASE = timedelta(seconds=120)
# estimate_gas is exact for the state it ran on; the margin covers a state that moves
# a little before the transaction is mined.
GAS_MARGIN_PERCENT = 25


class Retry(Exception):
    """A passing fault (node down, timeout, nonce race): try again after a backoff."""


class Fail(Exception):
    """The transaction cannot succeed as it is (it would revert, the key is wrong).
    ``release_nonce``: the row's nonce was never used on chain, so it is given back."""

    def __init__(self, message: str, *, release_nonce: bool) -> None:
        super().__init__(message)
        self.message = message
        self.release_nonce = release_nonce


# --- entry point --------------------------------------------------------------------------


def send_chain_transaction(
    tx_id: int, *, now_not_later: bool = False, now: datetime | None = None
) -> ChainTransaction:
    """Sign and broadcast a queued platform-key transaction that is due; returns the row.

    ``now_not_later`` (staff's "Retry now") skips a retry's backoff, never a worker's
    lease. A row another worker holds, or one that is no longer queued, is returned
    as it is. ``now`` is when the attempt counts as made (the tracker passes its own).
    """
    now = now or timezone.now()
    if not _claim(tx_id, now, ignore_backoff=now_not_later):
        return ChainTransaction.objects.get(pk=tx_id)
    try:
        _send_claimed(tx_id)
    except Retry as error:
        return record_retry(tx_id, scrub(str(error)), now)
    except Fail as error:
        return record_failed(tx_id, scrub(error.message), release_nonce=error.release_nonce)
    # Unexpected: keep the row retrying and tell the log, scrubbed (no traceback: its
    # messages are not scrubbed).
    except Exception as error:  # noqa: BLE001
        message = scrub(f"{type(error).__name__}: {error}")
        log.error("chain transaction %s: unexpected error while sending: %s", tx_id, message)
        return record_retry(tx_id, f"Unexpected error: {message}", now)
    return ChainTransaction.objects.get(pk=tx_id)


def claimable(now: datetime, *, ignore_backoff: bool = False) -> Q:
    """Queued rows that are due. A row in a retry's backoff carries its last error; a
    row a worker holds has none (the claim clears it), so ``ignore_backoff`` never
    takes a row from a live worker."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    if ignore_backoff:
        due |= ~Q(last_error="")
    return Q(status=Status.QUEUED) & due


def _claim(tx_id: int, now: datetime, *, ignore_backoff: bool) -> bool:
    """One conditional UPDATE outside any transaction: exactly one worker wins."""
    return (
        ChainTransaction.objects.filter(
            claimable(now, ignore_backoff=ignore_backoff), pk=tx_id
        ).update(
            next_attempt_at=now + LEASE,
            attempts=F("attempts") + 1,
            last_error="",
            updated_at=now,
        )
        == 1
    )


# --- one attempt --------------------------------------------------------------------------


def _send_claimed(tx_id: int) -> None:
    row = ChainTransaction.objects.get(pk=tx_id)
    w3 = _node()
    key = _arbiter_key(row)
    try:
        chain_id = int(w3.eth.chain_id)
        if chain_id != row.chain_id:
            raise Retry(f"The node is on chain {chain_id}, this transaction is for {row.chain_id}.")
        if row.tx_hash and _node_knows(w3, row.tx_hash):
            record_sent(tx_id)  # an earlier attempt's broadcast arrived after all
            return
        sender = Web3.to_checksum_address(row.from_address)
        node_nonce = int(w3.eth.get_transaction_count(sender, "pending"))
        unused = row.nonce is None or node_nonce <= row.nonce
        gas = _estimate_gas(w3, row, release_nonce=unused)
        max_fee, priority_fee = _fees(w3)
        nonce = row.nonce if row.nonce is not None else allocate_nonce(row, node_nonce)
        signed = _sign(
            {
                "type": 2,
                "chainId": row.chain_id,
                "from": sender,
                "to": Web3.to_checksum_address(row.to_address),
                "data": row.data,
                "value": int(row.value),
                "nonce": nonce,
                "gas": gas,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": priority_fee,
            },
            key,
            release_nonce=unused,
        )
        tx_hash = HexBytes(signed.hash).to_0x_hex()
        # Stored before the broadcast: if the answer is lost, the next attempt asks the
        # node for this hash instead of sending a second transaction.
        ChainTransaction.objects.filter(pk=tx_id).update(
            gas=gas, tx_hash=tx_hash, updated_at=timezone.now()
        )
        _broadcast(w3, tx_id, bytes(signed.raw_transaction), tx_hash, nonce)
    except (OSError, Web3Exception) as error:  # requests' errors are OSErrors
        raise Retry(f"The node failed: {type(error).__name__}: {error}") from None


def _node() -> Web3:
    try:
        return node.web3()
    except node.ChainUnavailable as error:
        raise Retry(error.detail) from None


def _arbiter_key(row: ChainTransaction) -> str:
    """The key, checked against the row's sender, without ever echoing it."""
    key = settings.CHAIN_ARBITER_KEY
    if not key:
        raise Retry("CHAIN_ARBITER_KEY is not set.")
    try:
        address = Account.from_key(key).address
    except (ValueError, TypeError):
        raise Retry("CHAIN_ARBITER_KEY is not a valid private key.") from None
    if address.lower() != row.from_address.lower():
        raise Fail(
            f"CHAIN_ARBITER_KEY belongs to {address}, but this transaction is from "
            f"{row.from_address}; queue it again with the current key.",
            release_nonce=row.tx_hash == "",
        )
    return str(key)


def _node_knows(w3: Web3, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True


def call_of(row: ChainTransaction) -> Any:
    """The row's transaction as an ``eth_call`` / ``eth_estimateGas`` request."""
    return {
        "from": Web3.to_checksum_address(row.from_address),
        "to": Web3.to_checksum_address(row.to_address),
        "data": row.data,
        "value": int(row.value),
    }


def _estimate_gas(w3: Web3, row: ChainTransaction, *, release_nonce: bool) -> int:
    call = call_of(row)
    try:
        estimate = int(w3.eth.estimate_gas(call))
    except ContractLogicError as error:
        words = revert_in_words(error.data, fallback=str(error.message or error))
        raise Fail(
            f"The contract would revert, so nothing was sent: {words}.",
            release_nonce=release_nonce,
        ) from None
    return estimate + estimate * GAS_MARGIN_PERCENT // 100


def _fees(w3: Web3) -> tuple[int, int]:
    """EIP-1559 fees from the node: room for the base fee to double, plus the tip."""
    latest = w3.eth.get_block("latest")
    base_fee = int(latest.get("baseFeePerGas") or 0)
    priority_fee = int(w3.eth.max_priority_fee)
    return 2 * base_fee + priority_fee, priority_fee


def _sign(tx: dict[str, Any], key: str, *, release_nonce: bool) -> Any:
    try:
        return Account.sign_transaction(tx, key)
    except (ValueError, TypeError, KeyError) as error:  # never chain the cause: it may hold the key
        raise Fail(
            f"The transaction could not be signed ({type(error).__name__}).",
            release_nonce=release_nonce,
        ) from None


def _broadcast(w3: Web3, tx_id: int, raw: bytes, tx_hash: str, nonce: int) -> None:
    try:
        w3.eth.send_raw_transaction(raw)
    except (ValueError, Web3Exception) as error:  # RPC errors; some nodes raise ValueError
        message = str(error).lower()
        if "already known" in message or _node_knows(w3, tx_hash):
            record_sent(tx_id)
            return
        if "nonce too low" in message:
            # Something else used this nonce: take a fresh one on the next attempt.
            ChainTransaction.objects.filter(pk=tx_id).update(nonce=None, tx_hash="")
            raise Retry(f"Nonce {nonce} was already used; a new one is taken next time.") from None
        raise Retry(f"The node refused the transaction: {error}") from None
    record_sent(tx_id)


# --- nonces -------------------------------------------------------------------------------


def allocate_nonce(row: ChainTransaction, node_nonce: int) -> int:
    """Give ``row`` the lowest nonce at or above the node's pending count that no row of
    ours holds (one sequence per chain and sender).

    That is ``max(node nonce, highest stored + 1)`` while nonces are used in order, and
    it also fills a gap a failed, never-broadcast row left behind, which would otherwise
    hold every later transaction in the mempool. The node is asked before the lock is
    taken; the sender's row lock (its ``ChainDeployment``) serialises workers, and the
    unique (chain, sender, nonce) constraint backs it.
    """
    for _ in range(3):
        try:
            with transaction.atomic():
                ChainDeployment.objects.select_for_update().filter(
                    chain_id=row.chain_id, contract_name=node.ESCROW_CONTRACT
                ).first()
                current = ChainTransaction.objects.select_for_update().get(pk=row.pk)
                if current.nonce is not None:
                    return int(current.nonce)
                held = set(
                    ChainTransaction.objects.filter(
                        chain_id=row.chain_id,
                        from_address=row.from_address,
                        nonce__gte=node_nonce,
                    ).values_list("nonce", flat=True)
                )
                nonce = node_nonce
                while nonce in held:
                    nonce += 1
                current.nonce = nonce
                current.save(update_fields=["nonce", "updated_at"])
                return nonce
        except IntegrityError:  # another sender took it first: look again
            continue
    raise Retry("Could not take a nonce (other transactions kept taking them).")
