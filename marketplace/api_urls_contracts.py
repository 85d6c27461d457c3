"""Marketplace contracts API routes (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from marketplace import api_contracts as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("contracts/", views.ContractListView.as_view(), name="contract-list"),
    path("contracts/<int:pk>/", views.ContractDetailView.as_view(), name="contract-detail"),
    path("contracts/<int:pk>/accept/", views.ContractAcceptView.as_view(), name="contract-accept"),
    path(
        "contracts/<int:pk>/decline/",
        views.ContractDeclineView.as_view(),
        name="contract-decline",
    ),
    path(
        "contracts/<int:pk>/withdraw/",
        views.ContractWithdrawView.as_view(),
        name="contract-withdraw",
    ),
    path(
        "contracts/<int:pk>/milestones/",
        views.ContractMilestonesView.as_view(),
        name="contract-milestones",
    ),
    path("milestones/<int:pk>/", views.MilestoneDetailView.as_view(), name="milestone-detail"),
    path(
        "milestones/<int:pk>/submit/", views.MilestoneSubmitView.as_view(), name="milestone-submit"
    ),
    path(
        "milestones/<int:pk>/request-revision/",
        views.MilestoneRevisionView.as_view(),
        name="milestone-request-revision",
    ),
    path(
        "milestones/<int:pk>/submissions/",
        views.MilestoneSubmissionsView.as_view(),
        name="milestone-submissions",
    ),
    path("proposals/<int:pk>/accept/", views.ProposalAcceptView.as_view(), name="proposal-accept"),
]
