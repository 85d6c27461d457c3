"""Deploy ``MilestoneEscrow`` (or verify the recorded deployment) and record where it is.

``deploy_escrow`` is the one verb; ``manage.py chain_deploy`` calls it and prints the outcome.
The contract has no immutables, so the code a node holds at a deployed address is exactly
the artefact's ``deployedBytecode``: verification compares their SHA-256 and then makes a
view call (``owner()``) to be sure the contract answers.

On a development chain, ``ensure_test_token_deployed`` does the same for ``TestToken``,
the ERC-20 that stands in for USDC (``node.token_address("usdc")`` finds its record when
``CHAIN_USDC_ADDRESS`` is not set). It is never deployed anywhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import Web3Exception

from escrow.chain.build import load_artifact
from escrow.models import ChainDeployment
from smartpay.errors import DomainError

CONTRACT_NAME = "MilestoneEscrow"
DEMO_USDC_CONTRACT = "TestToken"
# Development chains only: anvil, hardhat and geth --dev.
DEV_CHAIN_IDS = frozenset({31337, 1337})
RECEIPT_TIMEOUT = 60  # seconds
# A view call that proves the contract at an address answers.
PROBE = {CONTRACT_NAME: "owner", DEMO_USDC_CONTRACT: "decimals"}


class ChainDeployError(DomainError):
    """The escrow contract could not be deployed or verified."""

    status_code = 503
    code = "chain_deploy_failed"
    default_detail = "The escrow contract could not be deployed."


@dataclass(frozen=True)
class DeployOutcome:
    """What ``deploy_escrow`` did: ``deployment`` is the recorded row."""

    deployment: ChainDeployment
    deployed: bool  # False: an existing deployment was verified and kept
    reason: str  # why it deployed ("none recorded", "forced", "no code at …") or "verified"


def deployed_bytecode_sha256(name: str = CONTRACT_NAME) -> str:
    """SHA-256 (hex) of the artefact's deployed (runtime) bytecode."""
    return hashlib.sha256(_hex_bytes(load_artifact(name)["deployedBytecode"])).hexdigest()


def deploy_escrow(
    *,
    rpc_url: str,
    deployer_key: str | None = None,
    owner: str | None = None,
    force: bool = False,
    expected_chain_id: int | None = None,
) -> ChainDeployment:
    """Return the verified ``MilestoneEscrow`` deployment on the node at ``rpc_url``,
    deploying (and recording) it first when none is recorded, the recorded address holds
    other code or none (a reset dev chain), or ``force`` is set.

    ``deployer_key`` signs the deploy transaction; without one, the node's first unlocked
    account sends it (anvil and other dev nodes only). ``owner`` (who may pause the
    contract) defaults to the deployer. The node's chain id must equal
    ``expected_chain_id`` (default ``settings.CHAIN_ID``). Raises ``ChainDeployError``.
    """
    return ensure_escrow_deployed(
        rpc_url=rpc_url,
        deployer_key=deployer_key,
        owner=owner,
        force=force,
        expected_chain_id=expected_chain_id,
    ).deployment


def ensure_escrow_deployed(
    *,
    rpc_url: str,
    deployer_key: str | None = None,
    owner: str | None = None,
    force: bool = False,
    expected_chain_id: int | None = None,
) -> DeployOutcome:
    """``deploy_escrow`` that also says whether it deployed and why."""
    return _ensure_contract(
        CONTRACT_NAME, rpc_url, deployer_key, owner, force, expected_chain_id, dev_only=False
    )


def ensure_test_token_deployed(
    *,
    rpc_url: str,
    deployer_key: str | None = None,
    force: bool = False,
    expected_chain_id: int | None = None,
) -> DeployOutcome:
    """Deploy (or verify) ``TestToken``, the demo's USDC, on a development chain only:
    anyone may mint it, so it must never stand for money."""
    return _ensure_contract(
        DEMO_USDC_CONTRACT, rpc_url, deployer_key, None, force, expected_chain_id, dev_only=True
    )


def _ensure_contract(
    name: str,
    rpc_url: str,
    deployer_key: str | None,
    owner: str | None,
    force: bool,
    expected_chain_id: int | None,
    *,
    dev_only: bool,
) -> DeployOutcome:
    if not rpc_url:
        raise ChainDeployError("No RPC URL given: set CHAIN_RPC_URL or pass --rpc-url.")
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    try:
        return _ensure(w3, name, deployer_key, owner, force, expected_chain_id, dev_only)
    except (OSError, Web3Exception) as exc:  # requests' ConnectionError is an OSError
        raise ChainDeployError(f"The node at {rpc_url} failed: {exc}") from exc


def _ensure(
    w3: Web3,
    name: str,
    deployer_key: str | None,
    owner: str | None,
    force: bool,
    expected: int | None,
    dev_only: bool,
) -> DeployOutcome:
    chain_id = int(w3.eth.chain_id)
    expected = settings.CHAIN_ID if expected is None else expected
    if chain_id != expected:
        raise ChainDeployError(f"The node is on chain {chain_id}, expected chain {expected}.")
    if dev_only and chain_id not in DEV_CHAIN_IDS:
        raise ChainDeployError(
            f"{name} is deployed on development chains only ({sorted(DEV_CHAIN_IDS)}), "
            f"not on chain {chain_id}."
        )
    existing = ChainDeployment.objects.filter(chain_id=chain_id, contract_name=name)
    record = existing.first()
    if record is None:
        reason = "none recorded"
    elif force:
        reason = "forced"
    else:
        problem = verification_problem(w3, record)
        if problem is None:
            return DeployOutcome(record, deployed=False, reason="verified")
        reason = problem
    deployed = _deploy(w3, name, chain_id, deployer_key, owner)
    return DeployOutcome(deployed, deployed=True, reason=reason)


def verification_problem(w3: Web3, record: ChainDeployment) -> str | None:
    """Why the node does not hold the artefact's contract at ``record.address``, or None."""
    name = record.contract_name
    address = Web3.to_checksum_address(record.address)
    code = bytes(w3.eth.get_code(address))
    if not code:
        return f"no code at {address}"
    if hashlib.sha256(code).hexdigest() != deployed_bytecode_sha256(name):
        return f"other code at {address}"
    contract = w3.eth.contract(address=address, abi=load_artifact(name)["abi"])
    probe = PROBE.get(name, "owner")
    try:
        getattr(contract.functions, probe)().call()
    except Web3Exception:
        return f"the contract at {address} does not answer {probe}()"
    return None


def _deploy(
    w3: Web3, name: str, chain_id: int, key: str | None, owner: str | None
) -> ChainDeployment:
    artifact = load_artifact(name)
    sender = _key_address(key) if key else _first_unlocked_account(w3)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    if name == CONTRACT_NAME:
        constructor = factory.constructor(_checksum(owner, "owner") if owner else sender)
    else:
        constructor = factory.constructor()
    if key:
        tx: Any = constructor.build_transaction(
            {"from": sender, "nonce": w3.eth.get_transaction_count(sender, "pending")}
        )
        signed = Account.sign_transaction(tx, key)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    else:
        tx_hash = constructor.transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainDeployError(f"The deploy transaction {tx_hash.to_0x_hex()} reverted.")
    deployment, _ = ChainDeployment.objects.update_or_create(
        chain_id=chain_id,
        contract_name=name,
        defaults={
            "address": Web3.to_checksum_address(receipt["contractAddress"]),
            "tx_hash": tx_hash.to_0x_hex(),
            "block_number": receipt["blockNumber"],
            "deployer": sender,
            "bytecode_sha256": deployed_bytecode_sha256(name),
            "deployed_at": timezone.now(),
        },
    )
    return deployment


def _first_unlocked_account(w3: Web3) -> ChecksumAddress:
    accounts = list(w3.eth.accounts)
    if not accounts:
        raise ChainDeployError(
            "The node has no unlocked account to deploy from: give a deployer key."
        )
    return Web3.to_checksum_address(accounts[0])


def _key_address(key: str) -> ChecksumAddress:
    try:
        return Web3.to_checksum_address(Account.from_key(key).address)
    except (ValueError, TypeError) as exc:  # never echo the key itself
        raise ChainDeployError("The deployer key is not a valid private key.") from exc


def _checksum(address: str, what: str) -> str:
    if not Web3.is_address(address):
        raise ChainDeployError(f"The {what} {address!r} is not an Ethereum address.")
    return Web3.to_checksum_address(address)


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))
