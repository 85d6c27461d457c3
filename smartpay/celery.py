"""The Celery app. Broker and backend come from settings (``CELERY_*``).

A task knows which request caused it: the request id of whatever is being served when
a task is sent (a request, or another task) travels in the message headers, and the
worker runs the task under ``Origin(source="task:<name>", request_id=<that id>)``.
Its log lines and audit entries then carry the id of the request that caused them.
"""

import contextlib
import logging.config
import os
import uuid
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from smartpay.request_context import REQUEST_ID_FORM, Origin, current_origin
from smartpay.request_context import origin_var as _origin_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartpay.settings")

app = Celery("smartpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The message header that carries the request id from the sender to the worker.
REQUEST_ID_HEADER = "smartpay_request_id"


@setup_logging.connect
def _use_django_logging(**_: object) -> None:
    """The worker and beat log through Django's ``LOGGING`` (JSON lines with the request
    id). Left alone, Celery would give its task loggers handlers of their own, in its
    own format, that bypass ours; answering this signal tells it not to."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **_: object) -> None:
    request_id = current_origin().request_id
    if headers is not None and request_id:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def request_id_for(task: object) -> str:
    """The id the task's sender passed along; else, for a task applied in the caller's
    thread (``.apply()``, eager mode), the caller's; else a fresh one, so that all a
    scheduled run does (and the tasks it sends) still share one id."""
    request = getattr(task, "request", None)
    # A worker puts message headers on the request; ``apply(headers=...)`` nests them.
    sent = getattr(request, REQUEST_ID_HEADER, None) or (
        getattr(request, "headers", None) or {}
    ).get(REQUEST_ID_HEADER)
    if isinstance(sent, str) and REQUEST_ID_FORM.fullmatch(sent):
        return sent
    return current_origin().request_id or uuid.uuid4().hex


# Audit entries written by a task say which task wrote them.
_task_origins: dict[str, object] = {}


@task_prerun.connect
def _enter_task(task_id: str | None = None, task: object = None, **_: object) -> None:
    if task_id is not None:
        name = getattr(task, "name", "task")
        origin = Origin(source=f"task:{name}"[:100], request_id=request_id_for(task))
        _task_origins[task_id] = _origin_var().set(origin)


@task_postrun.connect
def _leave_task(task_id: str | None = None, **_: object) -> None:
    token = _task_origins.pop(task_id, None) if task_id is not None else None
    if token is not None:
        # Set in another context (a thread pool ran the task): leave it.
        with contextlib.suppress(ValueError, RuntimeError):
            _origin_var().reset(token)  # type: ignore[arg-type]
