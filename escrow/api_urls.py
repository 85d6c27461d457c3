"""Escrow API routes (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from escrow import api, api_ledger

urlpatterns: list[URLPattern | URLResolver] = [
    path("milestones/<int:pk>/fund/", api.MilestoneFundView.as_view(), name="milestone-fund"),
    path(
        "milestones/<int:pk>/approve/",
        api.MilestoneApproveView.as_view(),
        name="milestone-approve",
    ),
    path("milestones/<int:pk>/refund/", api.MilestoneRefundView.as_view(), name="milestone-refund"),
    path(
        "milestones/<int:pk>/refund-request/",
        api.MilestoneRefundRequestView.as_view(),
        name="milestone-refund-request",
    ),
    path(
        "milestones/<int:pk>/dispute/",
        api.MilestoneDisputeView.as_view(),
        name="milestone-dispute",
    ),
    path("wallets/withdraw/", api.WalletWithdrawView.as_view(), name="wallet-withdraw"),
    path("fundings/", api.FundingListView.as_view(), name="funding-list"),
    path("fundings/<int:pk>/", api.FundingDetailView.as_view(), name="funding-detail"),
    path("fundings/<int:pk>/cancel/", api.FundingCancelView.as_view(), name="funding-cancel"),
    path(
        "refund-requests/<int:pk>/withdraw/",
        api.RefundRequestWithdrawView.as_view(),
        name="refund-request-withdraw",
    ),
    path(
        "refund-requests/<int:pk>/decline/",
        api.RefundRequestDeclineView.as_view(),
        name="refund-request-decline",
    ),
    path("ledger/balances/", api_ledger.BalancesView.as_view(), name="ledger-balances"),
    path(
        "ledger/transactions/",
        api_ledger.TransactionsView.as_view(),
        name="ledger-transactions",
    ),
    path("payouts/", api_ledger.PayoutListView.as_view(), name="payout-list"),
    path("payouts/<int:pk>/", api_ledger.PayoutDetailView.as_view(), name="payout-detail"),
    path("payout-account/", api_ledger.PayoutAccountView.as_view(), name="payout-account"),
]
