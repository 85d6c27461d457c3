from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SmartpayConfig(AppConfig):
    """Project-wide pieces every app may use: API errors, idempotency, health."""

    default = True
    name = "smartpay"
    verbose_name = "SmartPay platform"

    def ready(self) -> None:
        from django.core import checks

        from smartpay import metrics
        from smartpay.api import schema  # noqa: F401 - registers the OpenAPI extensions

        metrics.register_business_metrics()
        checks.register(metrics.check_metrics_settings)


class SmartPayAdminConfig(admin_apps.AdminConfig):
    """Django's admin, served by a site that requires two-factor auth for staff."""

    default = False  # listed by path in INSTALLED_APPS; "smartpay" stays SmartpayConfig
    default_site = "smartpay.admin_site.SmartPayAdminSite"
