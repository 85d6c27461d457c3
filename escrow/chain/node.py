"""The one way the app reaches the Ethereum node and the deployed escrow contract.

Everything chain-related (transaction builders, chain sync, arbiter transactions,
reconciliation) gets its ``Web3``, the ``MilestoneEscrow`` instance and token addresses
here, so settings are read in one place and node failures become one error.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import requests
from django.conf import settings
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from escrow.chain.build import load_artifact
from escrow.models import ChainDeployment
from marketplace.money import CURRENCIES, Rail
from smartpay.errors import DomainError

ETH_ADDRESS = "0x0000000000000000000000000000000000000000"
ESCROW_CONTRACT = "MilestoneEscrow"
ERC20_TEST_CONTRACT = "TestToken"


class ChainUnavailable(DomainError):
    """The node is down, misconfigured, or the contract is not deployed."""

    status_code = 503
    code = "chain_unavailable"
    default_detail = "The Ethereum node cannot be reached; try again shortly."


def web3(rpc_url: str | None = None) -> Web3:
    """A ``Web3`` on ``CHAIN_RPC_URL`` (or ``rpc_url``) with the configured timeout."""
    url = rpc_url or settings.CHAIN_RPC_URL
    if not url:
        raise ChainUnavailable("The chain rail is not configured: CHAIN_RPC_URL is empty.")
    # web3 retries a failed call 5 times by default: a hung node would hold a sync or a
    # request for 5 timeouts. One retry rides out a blip; the callers retry later anyway.
    retry = ExceptionRetryConfiguration(
        errors=(ConnectionError, requests.HTTPError, requests.Timeout),
        retries=1,
        backoff_factor=0.1,
    )
    return Web3(
        Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": settings.CHAIN_RPC_TIMEOUT_SECONDS},
            exception_retry_configuration=retry,
        )
    )


def deployment(chain_id: int | None = None) -> ChainDeployment:
    """The recorded ``MilestoneEscrow`` deployment on ``chain_id`` (default ``CHAIN_ID``)."""
    chain_id = settings.CHAIN_ID if chain_id is None else chain_id
    found = ChainDeployment.objects.filter(chain_id=chain_id, contract_name=ESCROW_CONTRACT).first()
    if found is None:
        raise ChainUnavailable(
            f"No escrow contract is recorded on chain {chain_id}: run `manage.py chain_deploy`."
        )
    return found


@cache
def _abi(name: str) -> list[dict[str, Any]]:
    abi: list[dict[str, Any]] = load_artifact(name)["abi"]
    return abi


def escrow_contract(w3: Web3, address: str | None = None) -> Contract:
    """The ``MilestoneEscrow`` at ``address`` (default: the recorded deployment)."""
    address = address or deployment().address
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=_abi(ESCROW_CONTRACT))


def token_contract(w3: Web3, address: str) -> Contract:
    """An ERC-20 at ``address`` (the TestToken ABI is a superset of ERC-20's)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=_abi(ERC20_TEST_CONTRACT))


def token_address(currency: str) -> str:
    """The token a chain-rail currency is held in: the zero address for ETH."""
    if CURRENCIES[currency].rail != Rail.CHAIN:
        raise DomainError(f"{currency.upper()} is not paid on the chain rail.", code="wrong_rail")
    if currency == "eth":
        return ETH_ADDRESS
    if currency == "usdc":
        if settings.CHAIN_USDC_ADDRESS:
            return Web3.to_checksum_address(settings.CHAIN_USDC_ADDRESS)
        test_token = ChainDeployment.objects.filter(
            chain_id=settings.CHAIN_ID, contract_name=ERC20_TEST_CONTRACT
        ).first()
        if test_token is not None:
            return Web3.to_checksum_address(test_token.address)
    raise ChainUnavailable(f"No token address is configured for {currency.upper()}.")


def currency_of_token(token: str) -> str | None:
    """The chain-rail currency held in ``token``, or None for a token we do not use."""
    for code, spec in CURRENCIES.items():
        if spec.rail != Rail.CHAIN:
            continue
        try:
            if token_address(code).lower() == token.lower():
                return code
        except ChainUnavailable:
            continue
    return None


def arbiter_address() -> str:
    """The platform key's address (the arbiter of every escrow); never the key itself."""
    if not settings.CHAIN_ARBITER_KEY:
        raise ChainUnavailable("The chain rail is not configured: CHAIN_ARBITER_KEY is empty.")
    try:
        address: str = Account.from_key(settings.CHAIN_ARBITER_KEY).address
    except (ValueError, TypeError) as exc:
        raise ChainUnavailable("CHAIN_ARBITER_KEY is not a valid private key.") from exc
    return Web3.to_checksum_address(address)


def treasury_address() -> str:
    """Where escrows credit the platform fee."""
    if not settings.CHAIN_TREASURY_ADDRESS or not Web3.is_address(settings.CHAIN_TREASURY_ADDRESS):
        raise ChainUnavailable("The chain rail is not configured: CHAIN_TREASURY_ADDRESS.")
    return Web3.to_checksum_address(settings.CHAIN_TREASURY_ADDRESS)


def review_period_seconds() -> int:
    """The review period every escrow is created with (``ESCROW_REVIEW_DAYS``)."""
    return int(settings.ESCROW_REVIEW_DAYS) * 24 * 60 * 60
