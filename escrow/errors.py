"""Escrow's domain errors; the API handler turns them into {"code", "detail"}."""

from smartpay.errors import Conflict, DomainError


class InsufficientFunds(DomainError):
    status_code = 409
    code = "insufficient_funds"
    default_detail = "The account does not hold enough money for this."


class TransferKeyReused(Conflict):
    code = "transfer_key_reused"
    default_detail = (
        "This idempotency key already moved a different amount or between other accounts."
    )


class ProviderUnavailable(DomainError):
    """The card provider did not answer; nothing was charged or sent, and the same
    request (same Idempotency-Key) may be sent again."""

    status_code = 503
    code = "provider_unavailable"
    default_detail = "The payment provider is not answering. Nothing was charged; try again."
