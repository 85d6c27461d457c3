from django.apps import AppConfig


class DisputesConfig(AppConfig):
    """Disputes and arbitration; built on escrow."""

    name = "disputes"
    verbose_name = "Disputes"
