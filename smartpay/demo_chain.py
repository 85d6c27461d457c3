"""Demo chain: the demo users' wallets are anvil's well-known development accounts, and
the local chain gives the demo client ETH and test USDC to fund escrows with.

These accounts come from anvil's public test mnemonic ("test test … junk"); their keys
are printed by anvil itself and are known to everyone. They are for the local chain of
the embedded default only, never for a real network.

``link_demo_wallets`` is a demo-data step (database only). ``fund_demo_wallets`` runs
against the node once the contracts are deployed (``manage.py chain_devnet``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from escrow.chain import node
from marketplace.models import User, Wallet
from smartpay.demo_marketplace import hire

DEV_MNEMONIC = "test test test test test test test test test test test junk"


@dataclass(frozen=True)
class DevAccount:
    index: int
    address: str
    key: str  # public knowledge: anvil prints it; dev chains only


# anvil's first eight accounts for DEV_MNEMONIC.
DEV_ACCOUNTS = (
    DevAccount(
        0,
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    DevAccount(
        1,
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    DevAccount(
        2,
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    DevAccount(
        3,
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
    DevAccount(
        4,
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ),
    DevAccount(
        5,
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    ),
    DevAccount(
        6,
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    ),
    DevAccount(
        7,
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    ),
)
# Account 0 deploys the contracts; 3 is the platform (arbiter) key, 4 the treasury.
DEPLOYER, ARBITER, TREASURY = DEV_ACCOUNTS[0], DEV_ACCOUNTS[3], DEV_ACCOUNTS[4]
DEMO_WALLETS = {
    "client@demo.smartpay.test": DEV_ACCOUNTS[1],
    "freelancer@demo.smartpay.test": DEV_ACCOUNTS[2],
    "both@demo.smartpay.test": DEV_ACCOUNTS[5],
    "ines@demo.smartpay.test": DEV_ACCOUNTS[6],
    "omar@demo.smartpay.test": DEV_ACCOUNTS[7],
}
# What the demo's clients hold on the local chain (topped up, never reduced).
ETH_BALANCE = 1_000 * 10**18
USDC_BALANCE = 100_000 * 10**6  # TestToken has 6 decimals, like USDC
FUNDED_CLIENTS = ("client@demo.smartpay.test", "both@demo.smartpay.test")


def link_demo_wallets() -> None:
    """Each demo user's primary wallet is their anvil account (as if linked with
    Sign-In with Ethereum); an address already linked to someone is left alone."""
    for email, account in DEMO_WALLETS.items():
        user = User.objects.filter(email=email).first()
        if user is None or Wallet.objects.filter(address=account.address).exists():
            continue
        Wallet.objects.create(
            user=user, address=account.address, is_primary=not user.wallets.exists()
        )


def fund_demo_wallets(w3: Web3) -> list[str]:
    """Top the demo clients' accounts up to ``ETH_BALANCE`` (``anvil_setBalance``) and
    ``USDC_BALANCE`` of the recorded TestToken (minted by the deployer); returns what
    was done, in words. Safe to run on every start."""
    done: list[str] = []
    usdc = node.token_address("usdc")
    token = node.token_contract(w3, usdc)
    for email in FUNDED_CLIENTS:
        address = DEMO_WALLETS[email].address
        if int(w3.eth.get_balance(address)) < ETH_BALANCE:  # type: ignore[arg-type]
            _rpc(w3, "anvil_setBalance", [address, hex(ETH_BALANCE)])
            done.append(f"{email}: balance set to {ETH_BALANCE // 10**18} ETH")
        held = int(token.functions.balanceOf(address).call())
        if held < USDC_BALANCE:
            tx_hash = token.functions.mint(address, USDC_BALANCE - held).transact(
                {"from": DEPLOYER.address}
            )
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
            if receipt["status"] != 1:
                raise node.ChainUnavailable(f"Minting test USDC for {email} reverted.")
            done.append(f"{email}: topped up to {USDC_BALANCE // 10**6:,} test USDC")
    return done


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response: Any = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in response:
        raise node.ChainUnavailable(f"{method} failed: {response['error']}")
    return response.get("result")


# An active ETH contract, so the chain panel is ready to fund from the client's wallet.
CHAIN_CONTRACT_JOB = "Audit a milestone escrow contract"
CHAIN_CONTRACT_FREELANCER = "omar@demo.smartpay.test"


def make_chain_contract() -> None:
    hire(CHAIN_CONTRACT_JOB, CHAIN_CONTRACT_FREELANCER)


def chain_steps() -> list[tuple[str, Callable[[], object]]]:
    return [("demo wallets", link_demo_wallets), ("an active chain contract", make_chain_contract)]
