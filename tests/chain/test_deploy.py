"""Deploying MilestoneEscrow and recording it: ``deploy_escrow`` and ``manage.py chain_deploy``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib import admin
from django.core.management import CommandError, ManagementUtility, call_command
from django.test import override_settings
from web3 import Web3
from web3.contract import Contract

from escrow.chain.deploy import ChainDeployError, deploy_escrow, deployed_bytecode_sha256
from escrow.models import ChainDeployment
from tests.chain.conftest import Chain, _free_port
from tests.factories import make_user

pytestmark = pytest.mark.django_db

# anvil's first account for the "test … junk" mnemonic (public, dev only)
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _url(chain: Chain) -> str:
    provider: Any = chain.w3.provider
    return str(provider.endpoint_uri)


def _escrow_at(chain: Chain, address: str) -> Contract:
    return chain.w3.eth.contract(address=Web3.to_checksum_address(address), abi=chain.escrow.abi)


def _deploy(chain: Chain, **kwargs: Any) -> ChainDeployment:
    return deploy_escrow(rpc_url=_url(chain), **kwargs)


def _command(chain: Chain, *args: str) -> str:
    out = StringIO()
    call_command("chain_deploy", "--rpc-url", _url(chain), *args, stdout=out)
    return out.getvalue()


def test_deploys_and_records(chain: Chain) -> None:
    deployment = _deploy(chain)

    assert ChainDeployment.objects.get() == deployment
    assert deployment.chain_id == 31337
    assert deployment.contract_name == "MilestoneEscrow"
    assert deployment.address == Web3.to_checksum_address(deployment.address)
    assert len(deployment.address) == 42
    assert deployment.deployer == chain.accounts.owner  # the node's first unlocked account
    assert deployment.bytecode_sha256 == deployed_bytecode_sha256()
    receipt = chain.w3.eth.get_transaction_receipt(deployment.tx_hash)  # type: ignore[arg-type]
    assert receipt["contractAddress"] == deployment.address
    assert receipt["blockNumber"] == deployment.block_number
    escrow = _escrow_at(chain, deployment.address)
    assert escrow.functions.owner().call() == chain.accounts.owner


def test_second_run_verifies_without_sending(chain: Chain) -> None:
    first = _deploy(chain)
    block = chain.w3.eth.block_number

    second = _deploy(chain)

    assert (second.address, second.tx_hash) == (first.address, first.tx_hash)
    assert chain.w3.eth.block_number == block  # no transaction was mined
    assert ChainDeployment.objects.count() == 1


def test_force_redeploys(chain: Chain) -> None:
    first = _deploy(chain)

    second = _deploy(chain, force=True)

    assert second.address != first.address
    assert second.block_number > first.block_number
    assert ChainDeployment.objects.get().address == second.address


def test_recorded_address_without_code_is_redeployed(chain: Chain) -> None:
    provider: Any = chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]
    lost = _deploy(chain)
    assert provider.make_request("evm_revert", [snapshot])["result"] is True  # chain reset
    assert chain.w3.eth.get_code(lost.address) == b""  # type: ignore[arg-type]

    again = _deploy(chain)

    assert chain.w3.eth.get_code(again.address)  # type: ignore[arg-type]
    assert ChainDeployment.objects.get().tx_hash == again.tx_hash


def test_recorded_address_with_other_code_is_redeployed(chain: Chain) -> None:
    _deploy(chain)
    ChainDeployment.objects.update(address=chain.token.address)  # a different contract

    again = _deploy(chain)

    assert again.address not in (chain.token.address, chain.escrow.address)
    assert ChainDeployment.objects.get().address == again.address


def test_deploys_with_a_private_key_and_owner(chain: Chain) -> None:
    deployment = _deploy(chain, deployer_key=ANVIL_KEY_0, owner=chain.accounts.arbiter)

    assert deployment.deployer == chain.accounts.owner  # the key's address
    escrow = _escrow_at(chain, deployment.address)
    assert escrow.functions.owner().call() == chain.accounts.arbiter


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expected_chain_id": 1}, "expected chain 1"),
        ({"deployer_key": "0x1234"}, "not a valid private key"),
        ({"owner": "0xnope"}, "not an Ethereum address"),
        ({"rpc_url": ""}, "No RPC URL"),
    ],
)
def test_bad_input_is_refused(chain: Chain, kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("rpc_url", _url(chain))
    with pytest.raises(ChainDeployError, match=message):
        deploy_escrow(**kwargs)
    assert not ChainDeployment.objects.exists()


def test_node_down_is_a_clear_error() -> None:
    with pytest.raises(ChainDeployError, match="failed"):
        deploy_escrow(rpc_url=f"http://127.0.0.1:{_free_port()}")


def test_command_deploys_then_verifies_then_forces(chain: Chain) -> None:
    out = _command(chain)
    deployment = ChainDeployment.objects.get()
    assert f"Deployed MilestoneEscrow on chain 31337 at {deployment.address}" in out
    assert f"block {deployment.block_number}" in out
    assert "none recorded" in out

    out = _command(chain)
    assert f"Verified existing MilestoneEscrow on chain 31337 at {deployment.address}" in out
    assert "nothing sent" in out

    out = _command(chain, "--force")
    assert "Deployed MilestoneEscrow" in out
    assert "forced" in out
    assert ChainDeployment.objects.get().address != deployment.address


def test_command_uses_settings_rpc_url(chain: Chain) -> None:
    with override_settings(CHAIN_RPC_URL=_url(chain)):
        out = StringIO()
        call_command("chain_deploy", stdout=out)
    assert "Deployed MilestoneEscrow" in out.getvalue()


@override_settings(CHAIN_RPC_URL="")
def test_command_refuses_without_rpc_url() -> None:
    with pytest.raises(CommandError, match="No RPC URL"):
        call_command("chain_deploy")


def test_command_fails_when_node_is_down() -> None:
    with pytest.raises(CommandError, match="failed"):
        call_command("chain_deploy", "--rpc-url", f"http://127.0.0.1:{_free_port()}")
    assert not ChainDeployment.objects.exists()


def test_command_exit_code_is_non_zero_on_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(CHAIN_RPC_URL=""), pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "chain_deploy"]).execute()
    assert exit_info.value.code == 1
    assert "No RPC URL" in capsys.readouterr().err


@pytest.mark.django_db
def test_the_admin_lists_deployments_read_only(rf):
    request = rf.get("/")
    request.user = make_user(is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[ChainDeployment]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
