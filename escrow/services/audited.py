"""The fields the audit log keeps of each escrow object, one list per model, so every
service snapshots the same before/after (``audit.snapshot(refund, audited.REFUND)``).
Milestones are snapshotted with marketplace's list."""

from marketplace.services.audited import MILESTONE, SUBMISSION

__all__ = ["MILESTONE", "SUBMISSION"]

FUNDING = ("status", "source", "amount", "currency", "contract", "failure_message")
REFUND = ("status", "milestone", "destination", "amount", "currency", "attempts")
REFUND_REQUEST = ("status", "milestone", "destination", "respond_by", "closed_at")
HOLD = ("milestone", "reason", "cause", "lifted_at", "lifted_by")
RELEASE = ("status", "milestone", "amount", "fee", "freelancer_amount", "returned_amount")
PAYOUT = ("status", "amount", "currency", "attempts", "reversed_amount", "failure_message")
PAYOUT_ACCOUNT = ("status", "provider", "account_id", "payouts_enabled", "auto_payout_weekly")
CHAIN_ESCROW = ("status", "onchain_id", "client_address", "freelancer_address")
CHAIN_TRANSACTION = ("status", "kind", "milestone", "tx_hash", "nonce", "attempts")
REPORT = ("ok", "problems", "drift")
