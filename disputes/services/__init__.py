"""Dispute services: every state change of a dispute is one of these verbs."""

from disputes.services.opening import (
    add_evidence,
    escalate_dispute,
    open_dispute,
    respond_to_dispute,
)
from disputes.services.resolution import close_chain_resolutions, resolve_dispute
from disputes.services.settlement import accept_settlement, propose_settlement

__all__ = [
    "accept_settlement",
    "add_evidence",
    "close_chain_resolutions",
    "escalate_dispute",
    "open_dispute",
    "propose_settlement",
    "resolve_dispute",
    "respond_to_dispute",
]
