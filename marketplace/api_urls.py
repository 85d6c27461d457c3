from django.urls import include, path

from marketplace import api, wallet_api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("wallets/", wallet_api.WalletListView.as_view(), name="wallet-list"),
    path("wallets/nonce/", wallet_api.WalletNonceView.as_view(), name="wallet-nonce"),
    path("wallets/verify/", wallet_api.WalletVerifyView.as_view(), name="wallet-verify"),
    path("wallets/<int:pk>/", wallet_api.WalletDetailView.as_view(), name="wallet-detail"),
    path(
        "wallets/<int:pk>/primary/", wallet_api.WalletPrimaryView.as_view(), name="wallet-primary"
    ),
    path("", include("marketplace.api_urls_profiles")),
    path("", include("marketplace.api_urls_jobs")),
    path("", include("marketplace.api_urls_contracts")),
]
