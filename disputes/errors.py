"""The disputes app's domain errors; the API handler turns each into a 4xx."""

from __future__ import annotations

from smartpay.errors import Conflict, DomainError, NotAllowed


class DisputeOpen(Conflict):
    code = "dispute_open"
    default_detail = "This milestone already has an open dispute."


class DisputeClosed(Conflict):
    code = "dispute_closed"
    default_detail = "This dispute is closed."


class InvalidShare(DomainError):
    code = "invalid_share"
    default_detail = "The freelancer's share is a whole number of basis points, 0 to 10000."


class NotArbiter(NotAllowed):
    code = "not_arbiter"
    default_detail = "Only arbiters may resolve disputes."


class PartyCannotResolve(NotAllowed):
    code = "party_cannot_resolve"
    default_detail = "A party to the contract may not decide its dispute."


class RationaleRequired(DomainError):
    code = "rationale_required"
    default_detail = "Explain the decision: both parties read the rationale."
