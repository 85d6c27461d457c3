"""The Celery app. Broker and backend come from settings (``CELERY_*``)."""

import contextlib
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

from smartpay.request_context import Origin
from smartpay.request_context import origin_var as _origin_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartpay.settings")

app = Celery("smartpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Audit entries written by a task say which task wrote them.
_task_origins: dict[str, object] = {}


@task_prerun.connect
def _enter_task(task_id: str | None = None, task: object = None, **_: object) -> None:
    if task_id is not None:
        name = getattr(task, "name", "task")
        _task_origins[task_id] = _origin_var().set(Origin(source=f"task:{name}"[:100]))


@task_postrun.connect
def _leave_task(task_id: str | None = None, **_: object) -> None:
    token = _task_origins.pop(task_id, None) if task_id is not None else None
    if token is not None:
        # Set in another context (a thread pool ran the task): leave it.
        with contextlib.suppress(ValueError, RuntimeError):
            _origin_var().reset(token)  # type: ignore[arg-type]
