"""Escrow's data: the ledger, card fundings and refunds, releases, payouts,
webhook events, holds and reconciliation reports. Constraints live here;
behaviour lives in ``escrow.services``."""

from escrow.models.card import EscrowHold, Funding, FundingItem, Refund, RefundRequest
from escrow.models.chain import ChainDeployment
from escrow.models.ledger import LedgerAccount, Transfer
from escrow.models.payouts import Payout, PayoutAccount, Release
from escrow.models.records import (
    ReconciliationReport,
    ReviewReminder,
    SandboxObject,
    WebhookEvent,
)

__all__ = [
    "ChainDeployment",
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
