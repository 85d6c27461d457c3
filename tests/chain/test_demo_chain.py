"""The embedded default's chain: demo wallets on anvil's well-known accounts, the demo
USDC deployed by ``chain_deploy --test-token``, and the demo clients funded."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from eth_account import Account
from web3 import Web3

from escrow.chain import node
from escrow.chain.build import REPO_ROOT
from escrow.management.commands.chain_devnet import Command as ChainDevnet
from escrow.management.commands.chain_devnet import _answers
from escrow.models import ChainDeployment
from marketplace.models import User, Wallet
from smartpay.demo import DEMO_USERS, create_demo_user
from smartpay.demo_chain import (
    CHAIN_CONTRACT_FREELANCER,
    CHAIN_CONTRACT_JOB,
    DEMO_WALLETS,
    DEV_ACCOUNTS,
    DEV_MNEMONIC,
    ETH_BALANCE,
    USDC_BALANCE,
    fund_demo_wallets,
    link_demo_wallets,
)
from tests.chain.conftest import Chain, _free_port
from tests.chain.rail import ChainRail

pytestmark = pytest.mark.django_db

Account.enable_unaudited_hdwallet_features()


def test_the_dev_accounts_are_anvils_accounts_for_its_public_mnemonic(chain: Chain) -> None:
    node_accounts = list(chain.w3.eth.accounts)
    for account in DEV_ACCOUNTS:
        derived = Account.from_mnemonic(
            DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{account.index}"
        )
        assert derived.address == account.address
        assert derived.key.to_0x_hex() == account.key
        assert node_accounts[account.index] == account.address


def test_demo_users_get_their_wallets_once() -> None:
    for spec in DEMO_USERS:
        create_demo_user(spec)
    link_demo_wallets()
    link_demo_wallets()
    for email, account in DEMO_WALLETS.items():
        wallet = Wallet.objects.get(user__email=email)
        assert wallet.address == account.address
        assert wallet.is_primary
    assert Wallet.objects.count() == len(DEMO_WALLETS)
    assert not Wallet.objects.filter(user__email="arbiter@demo.smartpay.test").exists()


def test_seed_demo_links_the_wallets() -> None:
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    client = User.objects.get(email="client@demo.smartpay.test")
    assert client.wallets.get().address == DEMO_WALLETS["client@demo.smartpay.test"].address


def test_the_demo_clients_are_topped_up_with_eth_and_test_usdc(chain_rail: ChainRail) -> None:
    w3 = chain_rail.w3
    client = Web3.to_checksum_address(DEMO_WALLETS["client@demo.smartpay.test"].address)
    chain_rail.rpc("anvil_setBalance", [client, hex(10**18)])
    done = fund_demo_wallets(w3)
    assert any("1000 ETH" in line for line in done)
    assert any("100,000 test USDC" in line for line in done)
    token = node.token_contract(w3, node.token_address("usdc"))
    assert w3.eth.get_balance(client) == ETH_BALANCE
    assert token.functions.balanceOf(client).call() == USDC_BALANCE
    assert fund_demo_wallets(w3) == []  # already topped up: nothing to do


def test_chain_deploy_test_token_records_the_demo_usdc_then_verifies_it(
    chain: Chain, anvil_url: str, settings: Any
) -> None:
    settings.CHAIN_USDC_ADDRESS = ""
    out = StringIO()
    call_command("chain_deploy", rpc_url=anvil_url, test_token=True, stdout=out)
    record = ChainDeployment.objects.get(chain_id=31337, contract_name="TestToken")
    assert f"Deployed TestToken on chain 31337 at {record.address}" in out.getvalue()
    assert node.token_address("usdc") == record.address
    out = StringIO()
    call_command("chain_deploy", rpc_url=anvil_url, test_token=True, stdout=out)
    assert "Verified existing TestToken" in out.getvalue()
    assert ChainDeployment.objects.filter(contract_name="TestToken").count() == 1


def test_chain_devnet_deploys_and_funds_on_a_running_node(
    chain: Chain, anvil_url: str, settings: Any
) -> None:
    settings.CHAIN_USDC_ADDRESS = ""
    out = StringIO()
    command = ChainDevnet(stdout=out, stderr=StringIO())
    command.prepare(anvil_url)
    said = out.getvalue()
    assert "Deployed MilestoneEscrow" in said
    assert "Deployed TestToken" in said
    assert "wallet of client@demo.smartpay.test" in said
    names = set(ChainDeployment.objects.values_list("contract_name", flat=True))
    assert names == {"MilestoneEscrow", "TestToken"}
    command.prepare(anvil_url)  # a restart verifies and sends nothing new
    assert "Verified existing MilestoneEscrow" in out.getvalue()


def test_chain_devnet_keeps_the_chain_across_a_restart(tmp_path: Path) -> None:
    """The real process: anvil starts, answers, stops with the command on SIGTERM and
    comes back with the same blocks. (Its database is empty here, so it only warns that
    it cannot deploy: anvil must stay up regardless.)"""
    url = f"http://127.0.0.1:{_free_port()}"
    state = tmp_path / "anvil-state.json"
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "CHAIN_RPC_URL": url,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "manage.py", "chain_devnet", "--state", str(state)]

    def start() -> tuple[subprocess.Popen[bytes], str]:
        """Run the command until it has tried to deploy (its last word before idling)."""
        process = subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        said = ""
        deadline = time.monotonic() + 60
        while "not ready for SmartPay" not in said:
            assert process.poll() is None, said
            left = deadline - time.monotonic()
            assert left > 0, f"chain_devnet said only: {said}"
            if select.select([process.stdout], [], [], left)[0]:
                said += process.stdout.readline().decode()
        assert _answers(url)
        return process, said

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert not _answers(url), "anvil outlived chain_devnet"

    first, said = start()
    assert f"Local chain: anvil at {url}" in said
    w3 = Web3(Web3.HTTPProvider(url))
    w3.provider.make_request("anvil_mine", ["0x20"])  # type: ignore[arg-type]
    head = w3.eth.get_block("latest")
    stop(first)
    assert state.is_file()

    second, _ = start()
    try:
        assert w3.eth.get_block(head["number"])["hash"] == head["hash"]
    finally:
        stop(second)


def test_the_demo_chain_contract_can_be_funded_from_the_demo_clients_wallet(
    chain_rail: ChainRail,
) -> None:
    from escrow.chain.sync import sync_chain
    from marketplace.models import Contract, Milestone
    from tests.chain.wallet_helpers import api_for, send_all

    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    contract = Contract.objects.get(
        job__title=CHAIN_CONTRACT_JOB, freelancer__email=CHAIN_CONTRACT_FREELANCER
    )
    assert (contract.rail, contract.status, contract.currency) == ("chain", "active", "eth")
    first = contract.milestones.order_by("position").first()
    assert first is not None
    wallet = DEMO_WALLETS["client@demo.smartpay.test"].address
    response = api_for(contract.client).post(f"/api/v1/milestones/{first.pk}/fund/")
    assert response.status_code == 200, response.json()
    send_all(chain_rail, response.json(), wallet)
    sync_chain()
    first.refresh_from_db()
    assert first.status == Milestone.Status.FUNDED
