"""Shared fixtures. Tests use PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from celery import _state as celery_state
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from notifications.consumers import user_group
from smartpay.celery import app as celery_app
from tests.factories import make_user


def pytest_configure(config: pytest.Config) -> None:
    # Pages render without collectstatic: the manifest storage needs collected files.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(reason="needs DATABASE_URL=postgres://... (CI sets it)")
            )
        if "redis" in item.keywords and not os.environ.get("REDIS_URL"):
            item.add_marker(pytest.mark.skip(reason="needs REDIS_URL (CI sets it)"))


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Throttle counters live in the cache; ids repeat across tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def other_user(db):
    return make_user()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def user_api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def db_vendor() -> str:
    return connection.vendor


@pytest.fixture
def tmp_media(settings, tmp_path):
    """Uploads go to a temporary folder on the local file system."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    return settings.MEDIA_ROOT


class PushInbox:
    """A user's live pushes as delivered by the real channel layer (in-memory or Redis)."""

    def __init__(self, user_id: int) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(user_group(user_id), self.channel)

    def payloads(self, wait: float = 0.3) -> list[dict]:
        async def drain() -> list[dict]:
            found: list[dict] = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), wait)
                except TimeoutError:
                    return found
                found.append(message["payload"])

        return async_to_sync(drain)()


@pytest.fixture
def live_pushes() -> type[PushInbox]:
    """``inbox = live_pushes(user_id)`` before acting; ``inbox.payloads()`` after."""
    return PushInbox


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks run in the calling thread, retries included (no broker, no worker).

    Errors don't propagate from ``delay``, so eager retries run; ``.get()`` raises them."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, False
    # Eager tasks in overlapping threads can leave Celery's process-wide "inside a
    # task" flag set (it is restored without a lock); later .get() calls would refuse.
    join_will_block = celery_state.task_join_will_block()  # type: ignore[attr-defined]
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
    celery_state._set_task_join_will_block(join_will_block)  # type: ignore[attr-defined]
