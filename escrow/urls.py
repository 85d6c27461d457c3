"""Escrow's pages, sandbox pages and the Stripe webhook, mounted at the site root."""

from django.urls import URLPattern, URLResolver, include, path

from escrow import views_pay

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("escrow.urls_money")),
    path("", include("escrow.urls_sandbox")),
    path("", include("escrow.urls_webhooks")),
    path("money/fundings/<int:pk>/pay/", views_pay.pay, name="escrow_funding_pay"),
]
