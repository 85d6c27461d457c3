"""Domain errors. Services raise these; one API handler and one page helper turn
them into a ``{"code", "detail"}`` 4xx or a form error."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. ``code`` is stable and machine-readable; ``detail`` is for people."""

    status_code = 400
    code = "invalid"
    default_detail = "The request breaks a rule."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        super().__init__(self.detail)


class InvalidTransition(DomainError):
    status_code = 409
    code = "invalid_transition"
    default_detail = "That action is not possible in the object's current state."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state."


class NotAllowed(DomainError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You may not do that."


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."
