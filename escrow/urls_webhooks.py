"""Provider webhooks, mounted at the site root (``/webhooks/stripe/``)."""

from django.urls import path

from escrow.webhooks import stripe_webhook

urlpatterns = [
    path("webhooks/stripe/", stripe_webhook, name="stripe_webhook"),
]
