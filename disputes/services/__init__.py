"""Dispute services: every state change of a dispute is one of these verbs."""

from disputes.services.arbitration import (
    appeal_decision,
    confirm_decision,
    execute_due_decisions,
    resolve_dispute,
)
from disputes.services.assignment import assign_arbiter
from disputes.services.opening import (
    add_evidence,
    escalate_dispute,
    open_dispute,
    respond_to_dispute,
)
from disputes.services.resolution import close_chain_resolutions
from disputes.services.settlement import accept_settlement, propose_settlement
from disputes.services.withdrawal import withdraw_dispute

__all__ = [
    "accept_settlement",
    "add_evidence",
    "appeal_decision",
    "assign_arbiter",
    "close_chain_resolutions",
    "confirm_decision",
    "escalate_dispute",
    "execute_due_decisions",
    "open_dispute",
    "propose_settlement",
    "resolve_dispute",
    "respond_to_dispute",
    "withdraw_dispute",
]
