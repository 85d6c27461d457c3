"""The sandbox provider's pages (404 unless the sandbox is the active card provider)."""

from django.urls import URLPattern, URLResolver, path

from escrow import views_sandbox

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "sandbox/checkout/<str:payment_intent_id>/",
        views_sandbox.checkout,
        name="sandbox_checkout",
    ),
    path(
        "sandbox/onboarding/<str:account_id>/",
        views_sandbox.onboarding,
        name="sandbox_onboarding",
    ),
]
