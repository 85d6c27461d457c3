"""Marketplace jobs pages."""

from django.urls import URLPattern, URLResolver, path

from marketplace import views_jobs

urlpatterns: list[URLPattern | URLResolver] = [
    path("jobs/", views_jobs.job_board, name="job_board"),
    path("jobs/new/", views_jobs.job_create, name="job_create"),
    path("jobs/mine/", views_jobs.job_mine, name="job_mine"),
    path("jobs/<int:pk>/", views_jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/edit/", views_jobs.job_edit, name="job_edit"),
    path("jobs/<int:pk>/publish/", views_jobs.job_publish, name="job_publish"),
    path("jobs/<int:pk>/close/", views_jobs.job_close, name="job_close"),
    path("jobs/<int:pk>/cancel/", views_jobs.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/invite/", views_jobs.job_invite, name="job_invite"),
    path("jobs/<int:pk>/proposals/", views_jobs.job_proposals, name="job_proposals"),
    path("jobs/<int:pk>/propose/", views_jobs.proposal_create, name="proposal_create"),
    path("proposals/", views_jobs.proposal_mine, name="proposal_mine"),
    path("proposals/<int:pk>/", views_jobs.proposal_detail, name="proposal_detail"),
    path("proposals/<int:pk>/edit/", views_jobs.proposal_edit, name="proposal_edit"),
    path("proposals/<int:pk>/withdraw/", views_jobs.proposal_withdraw, name="proposal_withdraw"),
    path("proposals/<int:pk>/shortlist/", views_jobs.proposal_shortlist, name="proposal_shortlist"),
    path("proposals/<int:pk>/decline/", views_jobs.proposal_decline, name="proposal_decline"),
]
