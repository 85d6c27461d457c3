"""What chain sync asks the node, and how it reads the node's failures.

Every call either answers or raises ``ChainUnavailable`` (node down, timeout, an RPC
error, a malformed answer), except an ``eth_getLogs`` the node refuses because the
range is too wide or returns too many logs: that is ``RangeTooWide``, which sync
answers by halving its batch. Providers word that refusal differently (geth, erigon,
Infura, Alchemy, QuickNode, Ankr, public RPCs), so it is recognised by code -32005
("limit exceeded", EIP-1474) or by the range wording in the message.

Messages never include the RPC URL: hosted nodes carry their API key in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from web3 import Web3
from web3.exceptions import Web3Exception, Web3RPCError

from escrow.chain.node import ChainUnavailable

T = TypeVar("T")

LIMIT_EXCEEDED = -32005
RANGE_WORDING = re.compile(
    r"block range|range (is )?too (large|wide|big)|max(imum)? (block )?range|range limit"
    r"|more than [\d,]+ (results|logs|blocks)|too many (results|logs|blocks)"
    r"|response size|limited to [\d,]+|exceeds? (the )?max|query timeout|timed? ?out",
    re.IGNORECASE,
)


class RangeTooWide(Exception):
    """The node refused ``eth_getLogs`` for this many blocks (or logs)."""


class LogsTimedOut(ChainUnavailable):
    """``eth_getLogs`` timed out: the node may be slow on wide ranges, so sync also
    halves its batch before giving up this run."""


def is_range_error(error: Web3RPCError) -> bool:
    """Whether a JSON-RPC error is a provider's "range too wide / too many logs"."""
    response: Any = error.rpc_response or {}
    detail: Any = response.get("error") if isinstance(response, dict) else None
    code = detail.get("code") if isinstance(detail, dict) else None
    message = str(detail.get("message", "")) if isinstance(detail, dict) else str(error)
    return code == LIMIT_EXCEEDED or bool(RANGE_WORDING.search(message))


def _explain(error: BaseException) -> str:
    if isinstance(error, Web3RPCError):
        response: Any = error.rpc_response or {}
        detail = response.get("error") if isinstance(response, dict) else None
        if isinstance(detail, dict):
            return f"{detail.get('message', '')} (code {detail.get('code')})"
        return error.message
    if isinstance(error, requests.Timeout):
        return "the request timed out"
    if isinstance(error, requests.ConnectionError | ConnectionError):
        return "connection refused or dropped"
    return f"{type(error).__name__}: {error}"


class SyncNode:
    """The node as chain sync sees it: chain id, head, block hashes, one contract's logs."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ChainUnavailable:
            raise
        except (Web3Exception, requests.RequestException, OSError, ValueError) as error:
            # ValueError: web3 could not parse what the node sent back.
            raise ChainUnavailable(
                f"The Ethereum node failed {what}: {_explain(error)}."
            ) from error

    def _raw(self, method: str, params: list[Any]) -> Any:
        """One request without web3's result formatters (block headers are large and
        sync needs two fields of them)."""
        response: Any = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise Web3RPCError(str(response["error"]), rpc_response=response)
        return response.get("result")

    def chain_id(self) -> int:
        return self._call("eth_chainId", lambda: int(self._raw("eth_chainId", []), 16))

    def block_number(self, tag: str | int) -> int | None:
        """The number of the block ``tag`` names (``latest``, ``finalized``), or None
        when the node has no such block."""
        block = self._block(tag)
        return None if block is None else int(block["number"], 16)

    def block_hash(self, number: int) -> str | None:
        """The hash of block ``number`` on the node's current chain, None past its head."""
        block = self._block(number)
        return None if block is None else str(block["hash"]).lower()

    def _block(self, tag: str | int) -> dict[str, Any] | None:
        param = hex(tag) if isinstance(tag, int) else tag
        block: Any = self._call(
            f"eth_getBlockByNumber({tag})",
            lambda: self._raw("eth_getBlockByNumber", [param, False]),
        )
        if block is not None and not (isinstance(block, dict) and "hash" in block):
            raise ChainUnavailable(f"The Ethereum node sent a malformed block for {tag}.")
        return block

    def finalized_block(self) -> int | None:
        """The node's ``finalized`` block, or None when it has none (pre-merge nodes,
        some dev nodes answer an error)."""
        try:
            return self.block_number("finalized")
        except ChainUnavailable as error:
            if isinstance(error.__cause__, Web3RPCError):
                return None
            raise

    def logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """The contract's logs in ``[from_block, to_block]``, as the node sent them
        (0x-hex strings): web3's result formatters would cost more than the request."""
        query = {"address": self.address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        try:
            found = self._raw("eth_getLogs", [query])
        except Web3RPCError as error:
            if is_range_error(error):
                raise RangeTooWide(_explain(error)) from error
            raise ChainUnavailable(
                f"The Ethereum node failed eth_getLogs: {_explain(error)}."
            ) from error
        except requests.Timeout as error:
            raise LogsTimedOut(
                f"The Ethereum node timed out on eth_getLogs over blocks {from_block}-{to_block}."
            ) from error
        except requests.HTTPError as error:
            if error.response is not None and error.response.status_code == 413:
                raise RangeTooWide("HTTP 413: response too large") from error
            raise ChainUnavailable(
                f"The Ethereum node failed eth_getLogs: {_explain(error)}."
            ) from error
        except (Web3Exception, requests.RequestException, OSError, ValueError) as error:
            raise ChainUnavailable(
                f"The Ethereum node failed eth_getLogs: {_explain(error)}."
            ) from error
        if not isinstance(found, list) or not all(isinstance(entry, dict) for entry in found):
            raise NodeLied(
                "The Ethereum node answered eth_getLogs with something not a list of logs."
            )
        return found


class NodeLied(ChainUnavailable):
    """The node's answer contradicts itself or the request (a log outside the asked
    range or from another contract, two hashes for one block): nothing is applied."""
