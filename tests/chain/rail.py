"""The chain rail under Django: the app's settings pointed at the test anvil, the
contracts recorded as deployed, and parties whose wallets are anvil's unlocked accounts.

Transactions the app hands out unsigned (``to``, ``data``, ``value``, ``chainId``) are
sent with ``eth_sendTransaction`` from the party's unlocked account, as a browser wallet
would sign and send them.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from web3 import Web3
from web3.types import TxReceipt, Wei

from escrow.models import ChainDeployment
from marketplace.models import Contract, User, Wallet
from tests.chain.conftest import MNEMONIC, Chain
from tests.factories import make_contract, make_job, make_proposal, verified_user

Account.enable_unaudited_hdwallet_features()


def anvil_key(index: int) -> str:
    """The private key of anvil's account ``index`` (the test mnemonic)."""
    account = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return str(account.key.to_0x_hex())


class ChainRail:
    """The app's view of the test chain, plus helpers to act as the parties' wallets."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.w3: Web3 = chain.w3
        self.escrow = chain.escrow
        self.token = chain.token
        self.accounts = chain.accounts

    # -------------------------------------------------------------- parties
    def link_wallet(self, user: User, address: str) -> Wallet:
        return Wallet.objects.create(
            user=user, address=Web3.to_checksum_address(address), is_primary=True
        )

    def contract(
        self, currency: str = "eth", amounts: tuple[int, ...] = (10**18, 2 * 10**18)
    ) -> Contract:
        """An active chain-rail contract; the client's wallet is anvil account 1, the
        freelancer's account 2."""
        client = verified_user(is_client=True)
        freelancer = verified_user(is_client=False, is_freelancer=True)
        job = make_job(client, currency=currency, budget=sum(amounts))
        contract = make_contract(make_proposal(job, freelancer, amounts=amounts))
        self.link_wallet(client, self.accounts.client)
        self.link_wallet(freelancer, self.accounts.freelancer)
        return contract

    # -------------------------------------------------------------- wallets
    def send(self, tx: dict[str, Any], sender: str) -> TxReceipt:
        """Send an unsigned transaction from the app as ``sender``'s wallet would."""
        assert int(tx["chainId"]) == self.w3.eth.chain_id
        tx_hash = self.w3.eth.send_transaction(
            {
                "from": Web3.to_checksum_address(sender),
                "to": Web3.to_checksum_address(tx["to"]),
                "data": tx["data"],
                "value": Wei(int(tx["value"])),
            }
        )
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, receipt
        return receipt

    def mint(self, to: str, amount: int) -> None:
        self.chain.send(self.token.functions.mint(to, amount), self.accounts.owner)

    def mine(self, blocks: int = 1) -> None:
        self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]

    def rpc(self, method: str, params: list[Any]) -> Any:
        response: Any = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in response, response
        return response["result"]


def configure(settings: Any, chain: Chain, anvil_url: str) -> ChainRail:
    """Point the app at ``chain`` and record its contracts as deployed."""
    settings.CHAIN_RPC_URL = anvil_url
    settings.CHAIN_ID = 31337
    settings.CHAIN_CONFIRMATIONS = 0
    settings.CHAIN_USE_FINALIZED = False
    settings.CHAIN_ARBITER_KEY = anvil_key(3)
    settings.CHAIN_TREASURY_ADDRESS = chain.accounts.treasury
    settings.CHAIN_USDC_ADDRESS = ""
    assert Account.from_key(settings.CHAIN_ARBITER_KEY).address == chain.accounts.arbiter
    for name, contract in (("MilestoneEscrow", chain.escrow), ("TestToken", chain.token)):
        ChainDeployment.objects.update_or_create(
            chain_id=31337,
            contract_name=name,
            defaults={
                "address": contract.address,
                "tx_hash": "0x" + "00" * 32,
                "block_number": 0,
                "deployer": chain.accounts.owner,
                "bytecode_sha256": "",
                "deployed_at": "2026-01-01T00:00:00Z",
            },
        )
    return ChainRail(chain)
