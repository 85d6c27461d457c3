"""Marketplace contracts pages."""

from django.urls import URLPattern, URLResolver, path

from marketplace import views_contracts as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("contracts/", views.contract_list, name="contract_list"),
    path("contracts/<int:pk>/", views.contract_workroom, name="contract_workroom"),
    path("contracts/<int:pk>/milestones/add/", views.milestone_add, name="milestone_add"),
    path(
        "contracts/files/<int:file_id>/",
        views.contract_file_download,
        name="contract_file_download",
    ),
    path("offers/<int:pk>/", views.offer_detail, name="offer_detail"),
    path("offers/<int:pk>/accept/", views.offer_accept, name="offer_accept"),
    path("offers/<int:pk>/decline/", views.offer_decline, name="offer_decline"),
    path("offers/<int:pk>/withdraw/", views.offer_withdraw, name="offer_withdraw"),
    path("proposals/<int:proposal_id>/offer/", views.proposal_offer, name="proposal_offer"),
    path("milestones/<int:pk>/submit/", views.milestone_submit, name="milestone_submit"),
    path(
        "milestones/<int:pk>/request-revision/",
        views.milestone_request_revision,
        name="milestone_request_revision",
    ),
    path("milestones/<int:pk>/edit/", views.milestone_edit, name="milestone_edit"),
    path("milestones/<int:pk>/remove/", views.milestone_remove, name="milestone_remove"),
]
