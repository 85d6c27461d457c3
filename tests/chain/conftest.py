"""Contract tests against a real anvil node from node_modules.

One anvil runs for the whole session; every test runs between ``evm_snapshot`` and
``evm_revert``, so tests see a fresh chain with the contracts already deployed.
Anvil's accounts are unlocked: transactions are sent with ``eth_sendTransaction``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import EventLogErrorFlags
from web3.types import TxReceipt

from escrow.chain.build import CONTRACT_NAMES, load_artifact

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL = REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
MNEMONIC = "test test test test test test test test test test test junk"
ETH = "0x0000000000000000000000000000000000000000"
DAY = 24 * 60 * 60
DIGEST = keccak(b"deliverable v1")
FEE_BPS = 1_000
REVIEW_PERIOD = 14 * DAY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_anvil() -> tuple[subprocess.Popen[bytes], str]:
    if not ANVIL.is_file():
        raise RuntimeError(f"{ANVIL} is missing: run `npm ci` (make deps)")
    for _ in range(5):
        port = _free_port()
        process = subprocess.Popen(
            [
                str(ANVIL),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--mnemonic",
                MNEMONIC,
                "--accounts",
                "10",
                "--chain-id",
                "31337",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if w3.eth.chain_id == 31337:
                    return process, url
            except OSError:  # requests' ConnectionError is an OSError
                time.sleep(0.02)
        process.kill()
        process.wait()
    raise RuntimeError("anvil did not start")


class Reverted(Exception):
    """Raised by ``Chain.revert`` helpers when a call did not revert as expected."""


@dataclass
class Accounts:
    owner: str
    client: str
    freelancer: str
    arbiter: str
    treasury: str
    stranger: str


class Chain:
    """A deployed MilestoneEscrow plus helpers to transact, time-travel and decode reverts."""

    def __init__(self, w3: Web3, accounts: Accounts, escrow: Contract, token: Contract) -> None:
        self.w3 = w3
        self.accounts = accounts
        self.escrow = escrow
        self.token = token
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for name in CONTRACT_NAMES:
            for entry in load_artifact(name)["abi"]:
                if entry["type"] == "error":
                    types = [item["type"] for item in entry["inputs"]]
                    selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
                    self._errors[selector] = (entry["name"], types)
        self._next_id = 1

    # -------------------------------------------------------------- deployment
    def deploy(self, name: str, *args: Any, sender: str | None = None) -> Contract:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = factory.constructor(*args).transact({"from": sender or self.accounts.owner})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        address = receipt["contractAddress"]
        return cast(Contract, self.w3.eth.contract(address=address, abi=artifact["abi"]))

    # -------------------------------------------------------------- transactions
    def send(self, call: Any, sender: str, value: int = 0) -> TxReceipt:
        """Send a contract call as ``sender``; assert it succeeded."""
        tx_hash = call.transact({"from": sender, "value": value})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def decode_error(self, data: object) -> tuple[str, tuple[Any, ...]]:
        """Name and arguments of a custom error from its revert data (hex string or bytes)."""
        assert isinstance(data, str | bytes), f"no revert data: {data!r}"
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
        name, types = self._errors[raw[:4]]
        values = abi_decode(types, raw[4:])
        return name, tuple(
            Web3.to_checksum_address(value) if kind == "address" else value
            for kind, value in zip(types, values, strict=True)
        )

    def revert(self, call: Any, sender: str, value: int = 0) -> tuple[str, tuple[Any, ...]]:
        """Send ``call``; it must revert with a custom error: return (name, args)."""
        block = self.w3.eth.block_number
        try:
            self.send(call, sender, value)
        except ContractLogicError as exc:
            assert self.w3.eth.block_number == block, "a reverted call mined a block"
            return self.decode_error(exc.data)
        raise Reverted("the call did not revert")

    def events(self, receipt: TxReceipt, name: str, contract: Contract | None = None) -> list[Any]:
        event = getattr((contract or self.escrow).events, name)()
        # Discard logs of other contracts (the token's Transfer events) in the same receipt.
        logs = event.process_receipt(receipt, errors=EventLogErrorFlags.Discard)
        return [log["args"] for log in logs]

    # -------------------------------------------------------------- time and balances
    def time_travel(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def fresh_address(self) -> str:
        return Web3.to_checksum_address(os.urandom(20))

    def balance(self, address: str, token: str = ETH) -> int:
        if token == ETH:
            return int(self.w3.eth.get_balance(address))  # type: ignore[arg-type]
        return int(self.token.functions.balanceOf(address).call())

    def credit(self, account: str, token: str = ETH) -> int:
        return int(self.escrow.functions.credits(token, account).call())

    def held(self, token: str = ETH) -> int:
        """What the escrow contract holds of ``token``."""
        return self.balance(self.escrow.address, token)

    # -------------------------------------------------------------- escrow flows
    def create(
        self,
        amounts: list[int],
        *,
        token: str = ETH,
        fee_bps: int = FEE_BPS,
        review_period: int = REVIEW_PERIOD,
        contract_id: int | None = None,
    ) -> int:
        """Create an escrow as the client; return its contract id."""
        if contract_id is None:
            contract_id, self._next_id = self._next_id, self._next_id + 1
        a = self.accounts
        self.send(
            self.escrow.functions.createEscrow(
                contract_id,
                a.freelancer,
                a.arbiter,
                token,
                a.treasury,
                amounts,
                review_period,
                fee_bps,
            ),
            a.client,
        )
        return contract_id

    def fund(self, contract_id: int, index: int) -> TxReceipt:
        escrow_terms = self.escrow.functions.getEscrow(contract_id).call()
        amount = self.milestone(contract_id, index)["amount"]
        token = escrow_terms[5]
        call = self.escrow.functions.fund(contract_id, index)
        if token == ETH:
            return self.send(call, self.accounts.client, value=amount)
        self.send(self.token.functions.mint(self.accounts.client, amount), self.accounts.client)
        self.send(self.token.functions.approve(self.escrow.address, amount), self.accounts.client)
        return self.send(call, self.accounts.client)

    def submit(self, contract_id: int, index: int, digest: bytes = DIGEST) -> TxReceipt:
        call = self.escrow.functions.submit(contract_id, index, digest)
        return self.send(call, self.accounts.freelancer)

    def dispute(self, contract_id: int, index: int, by: str | None = None) -> TxReceipt:
        call = self.escrow.functions.dispute(contract_id, index)
        return self.send(call, by or self.accounts.client)

    def milestone(self, contract_id: int, index: int) -> dict[str, Any]:
        amount, status, refund_requested, submitted_at, deliverable = (
            self.escrow.functions.getMilestones(contract_id).call()[index]
        )
        return {
            "amount": amount,
            "status": STATUS[status],
            "refund_requested": refund_requested,
            "submitted_at": submitted_at,
            "deliverable": deliverable,
        }

    def status(self, contract_id: int, index: int) -> str:
        return str(self.milestone(contract_id, index)["status"])


STATUS = ["Unfunded", "Funded", "Submitted", "Released", "Refunded", "Disputed", "Resolved"]


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    process, url = _start_anvil()
    try:
        yield url
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def _deployed(anvil_url: str) -> Chain:
    w3 = Web3(Web3.HTTPProvider(anvil_url, request_kwargs={"timeout": 10}))
    accounts = Accounts(*list(w3.eth.accounts)[:6])
    chain = Chain(w3, accounts, escrow=None, token=None)  # type: ignore[arg-type]
    chain.escrow = chain.deploy("MilestoneEscrow", accounts.owner)
    chain.token = chain.deploy("TestToken")
    return chain


@pytest.fixture
def chain(_deployed: Chain) -> Iterator[Chain]:
    """The deployed contracts on a chain that is rolled back after the test."""
    provider: Any = _deployed.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]
    _deployed._next_id = 1
    try:
        yield _deployed
    finally:
        assert provider.make_request("evm_revert", [snapshot])["result"] is True


@pytest.fixture
def deploy_attacker(chain: Chain) -> Callable[[], Contract]:
    return lambda: chain.deploy("ReentrantAttacker", chain.escrow.address)


@pytest.fixture
def chain_rail(db: None, chain: Chain, anvil_url: str, settings: Any) -> Any:
    """The app configured for the test chain (see ``tests/chain/rail.py``)."""
    from tests.chain.rail import configure

    return configure(settings, chain, anvil_url)
