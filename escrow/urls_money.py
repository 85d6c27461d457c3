"""Money pages and the workroom money panel (mounted at the site root)."""

from django.urls import URLPattern, URLResolver, path

from escrow import views, views_chain, views_workroom

urlpatterns: list[URLPattern | URLResolver] = [
    path("money/", views.money, name="money"),
    path("money/transactions/", views.transactions, name="money_transactions"),
    path("money/payouts/request/", views.payout_request, name="money_payout_request"),
    path("money/payouts/auto/", views.auto_payout, name="money_auto_payout"),
    path("money/payouts/<int:pk>/receipt/", views.payout_receipt, name="money_payout_receipt"),
    path("money/payout-account/connect/", views.payout_connect, name="money_payout_connect"),
    path("money/payout-account/return/", views.payout_return, name="money_payout_return"),
    path("money/fundings/<int:pk>/receipt/", views.funding_receipt, name="money_funding_receipt"),
    path(
        "money/fundings/<int:pk>/cancel/",
        views_workroom.funding_cancel,
        name="escrow_funding_cancel",
    ),
    path(
        "money/contracts/<int:pk>/panel/",
        views_workroom.contract_panel,
        name="escrow_contract_panel",
    ),
    path("money/contracts/<int:pk>/fund/", views_workroom.fund, name="escrow_fund"),
    path("money/milestones/<int:pk>/approve/", views_workroom.approve, name="escrow_approve"),
    path("money/milestones/<int:pk>/refund/", views_workroom.refund, name="escrow_refund"),
    path(
        "money/milestones/<int:pk>/refund-request/",
        views_workroom.refund_request,
        name="escrow_refund_request",
    ),
    path(
        "money/refund-requests/<int:pk>/withdraw/",
        views_workroom.refund_request_withdraw,
        name="escrow_refund_request_withdraw",
    ),
    path(
        "money/refund-requests/<int:pk>/decline/",
        views_workroom.refund_request_decline,
        name="escrow_refund_request_decline",
    ),
    path(
        "money/chain/milestones/<int:pk>/<slug:action>/",
        views_chain.milestone_action,
        name="escrow_chain_action",
    ),
    path("money/chain/withdraw/", views_chain.withdraw, name="escrow_chain_withdraw"),
]
