"""Disputes API routes (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from disputes import api, api_arbitration

urlpatterns: list[URLPattern | URLResolver] = [
    path("disputes/", api.DisputeListView.as_view(), name="dispute-list"),
    path("disputes/<int:pk>/", api.DisputeDetailView.as_view(), name="dispute-detail"),
    path("disputes/<int:pk>/respond/", api.DisputeRespondView.as_view(), name="dispute-respond"),
    path("disputes/<int:pk>/evidence/", api.DisputeEvidenceView.as_view(), name="dispute-evidence"),
    path(
        "disputes/<int:pk>/evidence/<int:evidence_id>/file/",
        api.EvidenceFileView.as_view(),
        name="dispute-evidence-file",
    ),
    path("disputes/<int:pk>/offers/", api.DisputeOfferView.as_view(), name="dispute-offers"),
    path("disputes/<int:pk>/escalate/", api.DisputeEscalateView.as_view(), name="dispute-escalate"),
    path(
        "disputes/<int:pk>/resolve/",
        api_arbitration.DisputeResolveView.as_view(),
        name="dispute-resolve",
    ),
    path(
        "disputes/<int:pk>/confirm/",
        api_arbitration.DisputeConfirmView.as_view(),
        name="dispute-confirm",
    ),
    path(
        "disputes/<int:pk>/appeal/",
        api_arbitration.DisputeAppealView.as_view(),
        name="dispute-appeal",
    ),
    path(
        "disputes/<int:pk>/withdraw/",
        api_arbitration.DisputeWithdrawView.as_view(),
        name="dispute-withdraw",
    ),
    path(
        "disputes/<int:pk>/assign/",
        api_arbitration.DisputeAssignView.as_view(),
        name="dispute-assign",
    ),
    path(
        "dispute-offers/<int:pk>/accept/",
        api.OfferAcceptView.as_view(),
        name="dispute-offer-accept",
    ),
]
