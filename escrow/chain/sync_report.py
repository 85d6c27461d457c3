"""What a chain sync run reports, and the errors it refuses with."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from escrow.chain.node import ChainUnavailable
from smartpay.errors import DomainError


class WrongChain(ChainUnavailable):
    """The node serves another chain than ``CHAIN_ID``: nothing is read or written."""


class ChainSyncRefused(DomainError):
    status_code = 409
    code = "chain_sync_refused"
    default_detail = "Chain sync cannot do that."


@dataclass
class SyncReport:
    """What one run did. ``configured`` is False (and all counts zero) when the chain
    rail is not set up; ``reason`` says why."""

    configured: bool = True
    reason: str = ""
    chain_id: int | None = None
    address: str = ""
    from_block: int | None = None
    to_block: int | None = None
    head: int | None = None
    safe_block: int | None = None
    blocks_total: int = 0
    blocks_done: int = 0
    batches: int = 0
    logs_seen: int = 0
    applied: int = 0
    ignored: int = 0
    failed: int = 0
    duplicates: int = 0
    rolled_back: int = 0
    reorgs: int = 0
    seconds: float = 0.0

    COUNTS = (
        "batches",
        "logs_seen",
        "applied",
        "ignored",
        "failed",
        "duplicates",
        "rolled_back",
        "reorgs",
    )

    def counts(self) -> dict[str, int]:
        values = asdict(self)
        return {name: values[name] for name in self.COUNTS}

    @property
    def events_per_second(self) -> float:
        return self.logs_seen / self.seconds if self.seconds > 0 else 0.0
