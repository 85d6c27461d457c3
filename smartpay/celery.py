"""The Celery app. Broker and backend come from settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartpay.settings")

app = Celery("smartpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
