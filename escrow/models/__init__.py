"""Escrow's data: the ledger, card fundings and refunds, releases, payouts,
webhook events, holds and reconciliation reports. Constraints live here;
behaviour lives in ``escrow.services``."""

from escrow.models.card import EscrowHold, Funding, FundingItem, Refund, RefundRequest
from escrow.models.chain import (
    ChainCheckpoint,
    ChainCursor,
    ChainDeployment,
    ChainEscrow,
    ChainLog,
    ChainTransaction,
)
from escrow.models.ledger import LedgerAccount, Transfer
from escrow.models.payouts import Payout, PayoutAccount, Release
from escrow.models.records import (
    ReconciliationReport,
    ReviewReminder,
    SandboxObject,
    WebhookEvent,
)

__all__ = [
    "ChainCheckpoint",
    "ChainCursor",
    "ChainDeployment",
    "ChainEscrow",
    "ChainLog",
    "ChainTransaction",
    "EscrowHold",
    "Funding",
    "FundingItem",
    "LedgerAccount",
    "Payout",
    "PayoutAccount",
    "ReconciliationReport",
    "Refund",
    "RefundRequest",
    "Release",
    "ReviewReminder",
    "SandboxObject",
    "Transfer",
    "WebhookEvent",
]
