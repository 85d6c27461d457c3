"""The committed contract artefacts match the Solidity sources they claim to be built from."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from escrow.chain import build
from escrow.chain.build import CONTRACT_NAMES, REPO_ROOT, check_artifacts, read_artifact

SOLC_VERSION = "0.8.37"


def test_committed_artifacts_match_source_hashes() -> None:
    assert check_artifacts() == []


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_records_pinned_compiler_and_optimizer(name: str) -> None:
    artifact = read_artifact(name)
    assert artifact["contractName"] == name
    assert artifact["compiler"]["solc"].startswith(f"{SOLC_VERSION}+")
    assert artifact["compiler"]["settings"]["optimizer"]["enabled"] is True
    assert artifact["bytecode"].startswith("0x60")
    assert len(artifact["bytecode"]) > 1_000
    assert artifact["sourceUnit"] in artifact["sources"]


def test_solc_and_openzeppelin_are_pinned_in_package_json() -> None:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    dev = package["devDependencies"]
    assert dev["solc"] == SOLC_VERSION
    assert (
        dev["@openzeppelin/contracts"]
        == read_artifact("MilestoneEscrow")["compiler"]["openzeppelin"]
    )
    assert dev["@foundry-rs/anvil"][0].isdigit()  # exact versions, no ranges


def test_edited_source_is_reported_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "escrow/chain/contracts"
    shutil.copytree(REPO_ROOT / "escrow/chain/contracts", copy)
    (copy / "MilestoneEscrow.sol").write_text(
        (copy / "MilestoneEscrow.sol").read_text() + "\n// edited\n"
    )
    monkeypatch.setattr(build, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(build, "CHAIN_DIR", tmp_path / "escrow/chain")
    problems = check_artifacts()
    # Every artefact built from MilestoneEscrow.sol (the attacker imports it) is stale.
    assert problems == [
        "MilestoneEscrow: escrow/chain/contracts/MilestoneEscrow.sol changed since it was compiled",
        "ReentrantAttacker: escrow/chain/contracts/MilestoneEscrow.sol changed since it was "
        "compiled",
    ]
    assert build.main([]) == 1


def test_unknown_source_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "escrow/chain/contracts"
    shutil.copytree(REPO_ROOT / "escrow/chain/contracts", copy)
    (copy / "test/Extra.sol").write_text("// not compiled\n")
    monkeypatch.setattr(build, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(build, "CHAIN_DIR", tmp_path / "escrow/chain")
    assert check_artifacts() == [
        "escrow/chain/contracts/test/Extra.sol: not compiled into any artefact"
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to recompile")
def test_fresh_compile_gives_the_committed_bytecode(tmp_path: Path) -> None:
    """Recompile into a scratch copy of the tree and compare bytecode with the committed files."""
    scratch = tmp_path / "repo"
    (scratch / "escrow/chain").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "escrow/chain/contracts", scratch / "escrow/chain/contracts")
    shutil.copy(REPO_ROOT / "escrow/chain/compile.js", scratch / "escrow/chain/compile.js")
    (scratch / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    node = shutil.which("node")
    assert node is not None
    subprocess.run([node, "escrow/chain/compile.js"], cwd=scratch, check=True, capture_output=True)
    for name in CONTRACT_NAMES:
        fresh = json.loads((scratch / f"escrow/chain/artifacts/{name}.json").read_text())
        committed = read_artifact(name)
        assert fresh["bytecode"] == committed["bytecode"], f"{name}: run `make contracts`"
        assert fresh["deployedBytecode"] == committed["deployedBytecode"]
        assert fresh["abi"] == committed["abi"]
        assert fresh == committed
