"""Load the committed contract artefacts and check they match the Solidity sources.

``compile.js`` writes one JSON artefact per contract with its ABI, bytecode, compiler
settings and the SHA-256 of every project source it was built from. Python reads only
these files; node is needed only to rebuild them (``make contracts``).

    python -m escrow.chain.build            # check the artefacts, exit 1 if stale
    python -m escrow.chain.build --compile  # run compile.js first (needs node)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

CHAIN_DIR = Path(__file__).resolve().parent
REPO_ROOT = CHAIN_DIR.parent.parent
ARTIFACTS_DIR = CHAIN_DIR / "artifacts"
COMPILE_SCRIPT = CHAIN_DIR / "compile.js"
CONTRACT_NAMES = ("MilestoneEscrow", "TestToken", "ReentrantAttacker")


def source_sha256(unit: str) -> str:
    """SHA-256 (hex) of a source file given by its repository-relative path."""
    return hashlib.sha256((REPO_ROOT / unit).read_bytes()).hexdigest()


def read_artifact(name: str) -> dict[str, Any]:
    """The artefact of contract ``name`` as written by ``compile.js``."""
    data: dict[str, Any] = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
    return data


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """Cached ``read_artifact``: artefacts do not change while the process runs."""
    return read_artifact(name)


def stale_sources(artifact: dict[str, Any]) -> list[str]:
    """Project sources whose current SHA-256 differs from the one recorded in ``artifact``."""
    stale = []
    for unit, recorded in sorted(artifact["sources"].items()):
        path = REPO_ROOT / unit
        if not path.is_file() or source_sha256(unit) != recorded:
            stale.append(unit)
    return stale


def untracked_sources() -> list[str]:
    """Solidity files under ``contracts/`` that no artefact was built from."""
    tracked = {unit for name in CONTRACT_NAMES for unit in read_artifact(name)["sources"]}
    found = {str(path.relative_to(REPO_ROOT)) for path in (CHAIN_DIR / "contracts").rglob("*.sol")}
    return sorted(found - tracked)


def check_artifacts() -> list[str]:
    """Problems that make the committed artefacts stale; empty when they match the sources."""
    problems = []
    for name in CONTRACT_NAMES:
        path = ARTIFACTS_DIR / f"{name}.json"
        if not path.is_file():
            problems.append(f"{name}: artefact {path.name} is missing")
            continue
        problems += [
            f"{name}: {unit} changed since it was compiled"
            for unit in stale_sources(read_artifact(name))
        ]
    if not problems:
        problems += [f"{unit}: not compiled into any artefact" for unit in untracked_sources()]
    return problems


def compile_contracts() -> None:
    """Run ``compile.js`` with node (development only)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is needed to compile the contracts")
    subprocess.run([node, str(COMPILE_SCRIPT)], cwd=REPO_ROOT, check=True)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="run compile.js first")
    args = parser.parse_args(argv)
    if args.compile:
        compile_contracts()
    problems = check_artifacts()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("artefacts are stale: run `make contracts`", file=sys.stderr)
        return 1
    print(f"artefacts match their sources: {', '.join(CONTRACT_NAMES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
