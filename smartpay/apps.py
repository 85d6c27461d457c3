from django.apps import AppConfig


class SmartpayConfig(AppConfig):
    """Project-wide pieces every app may use: API errors, idempotency, health."""

    name = "smartpay"
    verbose_name = "SmartPay platform"
