"""WSGI entry point (HTTP only); production serves ``smartpay.asgi`` instead."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartpay.settings")
application = get_wsgi_application()
