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


class ArbiterConflict(Conflict):
    code = "arbiter_conflict"
    default_detail = (
        "This arbiter may not take the case: they are a party, or have worked with "
        "either party on another contract."
    )


class NoArbiterAvailable(Conflict):
    code = "no_arbiter_available"
    default_detail = "No arbiter without a conflict is available for this case."


class NotAssigned(NotAllowed):
    code = "not_assigned"
    default_detail = "Another arbiter has this case."


class OwnDecision(NotAllowed):
    code = "own_decision"
    default_detail = "A second arbiter confirms a decision, not the arbiter who made it."


class NotStaff(NotAllowed):
    code = "staff_only"
    default_detail = "Only staff who manage disputes may assign arbiters."


class NotOpener(NotAllowed):
    code = "not_opener"
    default_detail = "Only the party who opened the dispute may withdraw it."


class AppealUsed(Conflict):
    code = "appeal_used"
    default_detail = "This dispute was appealed already; a case has one appeal."


class AppealLate(Conflict):
    code = "appeal_too_late"
    default_detail = "The appeal window has closed."
