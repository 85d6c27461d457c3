"""A view and a task that fail with a secret in their message, for the log and Sentry
tests (which run them in a child process with ``ROOT_URLCONF`` pointing here)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

log = logging.getLogger("tests.ops.failing")


class SigningFailed(RuntimeError):
    pass


def boom(request: HttpRequest) -> HttpResponse:
    arbiter_key = settings.CHAIN_ARBITER_KEY  # a local the error report would show
    log.info("signing with the arbiter key")
    raise SigningFailed(f"signing failed with {arbiter_key} ({arbiter_key[2:].upper()})")


@shared_task(name="tests.explode")
def explode() -> None:
    stripe_key = settings.STRIPE_SECRET_KEY
    log.info("calling the provider")
    raise SigningFailed(f"provider refused key {stripe_key}")


urlpatterns = [path("api/boom/", boom)]
handler500 = "smartpay.views.server_error"
