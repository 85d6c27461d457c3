"""Marketplace jobs API routes (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from marketplace import api_jobs

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/", api_jobs.JobListView.as_view(), name="job-list"),
    path("jobs/<int:pk>/", api_jobs.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:pk>/publish/", api_jobs.JobPublishView.as_view(), name="job-publish"),
    path("jobs/<int:pk>/close/", api_jobs.JobCloseView.as_view(), name="job-close"),
    path("jobs/<int:pk>/cancel/", api_jobs.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<int:pk>/invites/", api_jobs.JobInviteView.as_view(), name="job-invites"),
    path("jobs/<int:pk>/proposals/", api_jobs.JobProposalListView.as_view(), name="job-proposals"),
    path("proposals/", api_jobs.ProposalListView.as_view(), name="proposal-list"),
    path("proposals/<int:pk>/", api_jobs.ProposalDetailView.as_view(), name="proposal-detail"),
    path(
        "proposals/<int:pk>/withdraw/",
        api_jobs.ProposalWithdrawView.as_view(),
        name="proposal-withdraw",
    ),
    path(
        "proposals/<int:pk>/shortlist/",
        api_jobs.ProposalShortlistView.as_view(),
        name="proposal-shortlist",
    ),
    path(
        "proposals/<int:pk>/decline/",
        api_jobs.ProposalDeclineView.as_view(),
        name="proposal-decline",
    ),
]
