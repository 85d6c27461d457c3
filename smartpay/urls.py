"""URL map: pages, admin, API v1, health."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from smartpay import health, metrics, views
from smartpay.api.views import PingView

api_v1: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's page carries one inline <style>; only this page allows it.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="api-docs",
    ),
    path("ping/", PingView.as_view(), name="ping"),
    path("", include("marketplace.api_urls")),
    path("", include("escrow.api_urls")),
    path("", include("disputes.api_urls")),
    path("", include("notifications.api_urls")),
    path("", include("notifications.api_chat_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("marketplace.urls")),
    path("", include("escrow.urls")),
    path("", include("disputes.urls")),
    path("", include("notifications.urls")),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]

handler400 = "smartpay.views.bad_request"
handler403 = "smartpay.views.permission_denied"
handler404 = "smartpay.views.not_found"
handler500 = "smartpay.views.server_error"
