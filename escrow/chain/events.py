"""Decode MilestoneEscrow logs into ``ChainLog`` rows (unsaved).

Chain sync reads thousands of logs per batch, so the ABI is turned into a table from
topic0 to each event's layout once, and a log is decoded with one ``eth_abi`` call for
its data plus plain byte slicing for its indexed topics; web3's per-log event
processing (which re-parses the ABI on every call) is not used.

Arguments are stored as JSON that survives any database: integers as decimal
strings (a uint256 does not fit a JSON number everywhere), addresses checksummed,
bytes32 as 0x-hex, arrays as lists of those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3

from escrow.chain import node
from escrow.chain.build import load_artifact
from escrow.models import ChainLog

Value = str | list[str]


@dataclass(frozen=True)
class EventLayout:
    """How one event's arguments sit in a log: which topics, which data."""

    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) of topics 1..n, in order
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    order: tuple[str, ...]  # argument names in ABI order, for a stable args dict


@cache
def layouts() -> dict[bytes, EventLayout]:
    """topic0 → layout of every event in the MilestoneEscrow ABI (built once)."""
    table: dict[bytes, EventLayout] = {}
    for entry in load_artifact(node.ESCROW_CONTRACT)["abi"]:
        if entry["type"] != "event" or entry.get("anonymous"):
            continue
        inputs = entry["inputs"]
        signature = f"{entry['name']}({','.join(item['type'] for item in inputs)})"
        table[keccak(text=signature)] = EventLayout(
            name=entry["name"],
            indexed=tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
            data_names=tuple(i["name"] for i in inputs if not i["indexed"]),
            data_types=tuple(i["type"] for i in inputs if not i["indexed"]),
            order=tuple(i["name"] for i in inputs),
        )
    return table


def event_topic(name: str) -> str:
    """The 0x-hex topic0 of the MilestoneEscrow event ``name`` (for log filters)."""
    for topic, layout in layouts().items():
        if layout.name == name:
            return "0x" + topic.hex()
    raise KeyError(name)


def to_chain_log(raw_log: Mapping[str, Any], chain_id: int) -> ChainLog | None:
    """An unsaved ``ChainLog`` for one ``eth_getLogs`` entry of the escrow contract, or
    None when its topic0 is not one of MilestoneEscrow's events (or its topics do not
    fit the event, which only another contract's log could do).

    Accepts web3's AttributeDict (HexBytes, ints) as well as the raw JSON-RPC shape
    (0x-hex strings).
    """
    topics = raw_log.get("topics") or []
    if not topics:
        return None
    layout = layouts().get(_bytes(topics[0]))
    if layout is None or len(topics) != 1 + len(layout.indexed):
        return None
    args = decode_args(layout, [_bytes(t) for t in topics[1:]], _bytes(raw_log["data"]))
    if args is None:
        return None
    return ChainLog(
        chain_id=chain_id,
        address=checksum(_bytes(raw_log["address"])),
        tx_hash=_hex(raw_log["transactionHash"]),
        log_index=_int(raw_log["logIndex"]),
        block_number=_int(raw_log["blockNumber"]),
        block_hash=_hex(raw_log["blockHash"]),
        event=layout.name,
        args=args,
    )


def decode_args(layout: EventLayout, topics: list[bytes], data: bytes) -> dict[str, Value] | None:
    """The event's arguments as JSON-safe values, or None if the data does not decode."""
    found: dict[str, Value] = {}
    for (name, kind), topic in zip(layout.indexed, topics, strict=True):
        found[name] = _word(kind, topic)
    if layout.data_types:
        try:
            values = abi_decode(list(layout.data_types), data, strict=False)
        except Exception:  # noqa: BLE001 - eth_abi raises several unrelated types
            return None
        for name, kind, value in zip(layout.data_names, layout.data_types, values, strict=True):
            found[name] = _json_value(kind, value)
    return {name: found[name] for name in layout.order}


def _word(kind: str, topic: bytes) -> str:
    """A static indexed argument from its 32-byte topic."""
    if kind == "address":
        return checksum(topic[12:])
    if kind.startswith(("uint", "int")):
        value = int.from_bytes(topic, "big", signed=kind.startswith("int"))
        return str(value)
    if kind == "bool":
        return "true" if topic[-1] else "false"
    return "0x" + topic.hex()  # bytes32, or the hash of an indexed dynamic value


@lru_cache(maxsize=4096)
def checksum(raw: bytes) -> str:
    """EIP-55 spelling of a 20-byte address (cached: a few parties recur in every batch)."""
    return str(Web3.to_checksum_address(raw))


_SCALARS: dict[str, Callable[[Any], str]] = {
    "address": lambda value: checksum(bytes.fromhex(value[2:])),
    "bool": lambda value: "true" if value else "false",
}


def _json_value(kind: str, value: Any) -> Value:
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [_json_value(inner, item) for item in value]  # type: ignore[misc]
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return scalar(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(int(value))


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):  # HexBytes is a bytes subclass
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


def _hex(value: Any) -> str:
    return "0x" + _bytes(value).hex()


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16) if str(value).startswith("0x") else int(value)
