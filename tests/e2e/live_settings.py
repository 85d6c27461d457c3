"""Settings of the live stack the browser journeys run against: the project's own, with
static files served from their sources (WhiteNoise finds them), so the stack needs no
``collectstatic`` before it starts. Everything else comes from the environment, as in
production."""

from smartpay.settings import *  # noqa: F403
from smartpay.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
