"""Dispute pages for the parties, mounted at the site root."""

from django.urls import URLPattern, URLResolver, path

from disputes import views, views_actions

urlpatterns: list[URLPattern | URLResolver] = [
    path("disputes/", views.dispute_list, name="dispute_list"),
    path("milestones/<int:pk>/dispute/", views.milestone_dispute, name="milestone_dispute"),
    path("disputes/<int:pk>/", views.dispute_detail, name="dispute_detail"),
    path(
        "disputes/<int:pk>/evidence/<int:evidence_id>/",
        views.evidence_download,
        name="dispute_evidence_download",
    ),
    path("disputes/<int:pk>/respond/", views_actions.respond, name="dispute_respond"),
    path("disputes/<int:pk>/evidence/", views_actions.add_evidence, name="dispute_add_evidence"),
    path("disputes/<int:pk>/offers/", views_actions.propose, name="dispute_propose"),
    path(
        "disputes/<int:pk>/offers/<int:offer_id>/accept/",
        views_actions.accept,
        name="dispute_accept_offer",
    ),
    path("disputes/<int:pk>/escalate/", views_actions.escalate, name="dispute_escalate"),
    path("disputes/<int:pk>/withdraw/", views_actions.withdraw, name="dispute_withdraw"),
    path("disputes/<int:pk>/appeal/", views_actions.appeal, name="dispute_appeal"),
]
