"""Revert reasons of ``MilestoneEscrow`` in words, for staff reading a failed arbiter
transaction in the admin or in an alert mail.

The contract reverts with custom errors (a 4-byte selector and ABI-encoded arguments);
a person needs "the milestone is Resolved on chain, not Disputed", not ``0x…``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak
from web3 import Web3

from escrow.chain.build import load_artifact

# The contract's Status enum, by value.
STATUS_NAMES = ("Unfunded", "Funded", "Submitted", "Released", "Refunded", "Disputed", "Resolved")


def status_name(value: int) -> str:
    return STATUS_NAMES[value] if 0 <= value < len(STATUS_NAMES) else f"status {value}"


@cache
def _errors() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for entry in load_artifact("MilestoneEscrow")["abi"]:
        if entry["type"] == "error":
            types = [item["type"] for item in entry["inputs"]]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            table[selector] = (entry["name"], types)
    return table


WORDS: dict[str, Callable[..., str]] = {
    "InvalidStatus": lambda status: (
        f"the milestone is {status_name(status)} on chain, not Disputed"
        + (" (it was resolved already)" if status_name(status) == "Resolved" else "")
    ),
    "NotArbiter": lambda caller: f"{caller} is not this escrow's arbiter",
    "InvalidShare": lambda bps: f"a freelancer share of {bps} basis points is over 100 %",
    "EscrowNotFound": lambda contract_id: f"escrow {contract_id} does not exist on chain",
    "MilestoneOutOfRange": lambda index: f"the escrow has no milestone {index}",
    "EnforcedPause": lambda: "the escrow contract is paused",
}


def decode_revert(data: object) -> tuple[str, tuple[Any, ...]] | None:
    """(error name, arguments) from revert data (hex string or bytes), or None."""
    if isinstance(data, str):
        try:
            raw = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            return None
    elif isinstance(data, bytes):
        raw = data
    else:
        return None
    found = _errors().get(raw[:4])
    if found is None:
        return None
    name, types = found
    try:
        values = abi_decode(types, raw[4:])
    except DecodingError:  # malformed data from a node: fall back to the raw words
        return None
    return name, tuple(
        Web3.to_checksum_address(value) if kind == "address" else value
        for kind, value in zip(types, values, strict=True)
    )


def revert_in_words(data: object, fallback: str = "") -> str:
    """``"InvalidStatus: the milestone is Resolved on chain, not Disputed …"``."""
    decoded = decode_revert(data)
    if decoded is None:
        return fallback or "the contract reverted without a known reason"
    name, args = decoded
    words = WORDS.get(name)
    if words is None:
        shown = ", ".join(str(arg) for arg in args)
        return f"{name}({shown})"
    return f"{name}: {words(*args)}"
