"""Marketplace pages. Included at the site root by smartpay/urls.py."""

from django.urls import include, path

from marketplace import views_wallets

urlpatterns = [
    path("accounts/wallets/", views_wallets.wallet_list, name="wallets"),
    path(
        "accounts/wallets/<int:pk>/primary/",
        views_wallets.make_primary,
        name="wallet_make_primary",
    ),
    path("accounts/wallets/<int:pk>/unlink/", views_wallets.unlink, name="wallet_unlink"),
    path("", include("marketplace.urls_profiles")),
    path("", include("marketplace.urls_jobs")),
    path("", include("marketplace.urls_contracts")),
]
