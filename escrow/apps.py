from django.apps import AppConfig


class EscrowConfig(AppConfig):
    """Ledger and money rails (card and chain); built on marketplace."""

    name = "escrow"
    verbose_name = "Escrow"
