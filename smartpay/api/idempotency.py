"""``Idempotency-Key`` for money-moving POSTs (Stripe's contract).

The same key with the same body returns the first response again, marked
``Idempotent-Replayed: true``; the same key with another body, or on another
endpoint, is a 409. A second request that arrives while the first still runs
waits for its result (``IDEMPOTENCY_WAIT_SECONDS``). Responses of 5xx or a crash
are not stored, so the client may retry. Keys are per user and kept for
``IDEMPOTENCY_KEEP_HOURS``.

Written here rather than taken from a package: the maintained Django packages
either store nothing until the view ends (two racing requests both run) or
don't survive DRF's exception handling; this needs the claim to be a committed
unique row before the view runs, because the services it wraps open their own
durable transactions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http.request import RawPostDataException
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from smartpay.errors import Conflict, DomainError
from smartpay.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
POLL_SECONDS = 0.05

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 characters. Repeating a request with the same key "
        "and body returns the first response; another body with the same key is a 409."
    ),
)

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., Any])


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    default_detail = f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


@dataclass(frozen=True)
class Claim:
    record: IdempotencyKey
    owned: bool  # True: this request runs the view; False: replay record's response


def fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path):
        digest.update(part.encode())
        digest.update(b"\0")
    try:
        digest.update(request._request.body)  # raw bytes, read before DRF parses them
    except RawPostDataException:
        # A session login's CSRF check has already parsed a multipart body (Django
        # can't read its stream twice): fingerprint the parsed fields and files.
        form = request._request
        for name, values in sorted(form.POST.lists()):
            digest.update(json.dumps([name, values]).encode())
        for name, uploads in sorted(form.FILES.lists()):
            described = [(upload.name, upload.size) for upload in uploads]
            digest.update(json.dumps([name, described]).encode())
    return digest.hexdigest()


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey()


def _take_over_if_stale(record: IdempotencyKey) -> bool:
    """A claim left RUNNING by a crashed process may be taken by exactly one request."""
    stale_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS)
    if record.updated_at >= stale_before:
        return False
    taken = IdempotencyKey.objects.filter(
        pk=record.pk, state=IdempotencyKey.State.RUNNING, updated_at=record.updated_at
    ).update(updated_at=timezone.now())
    return taken == 1


def claim_key(*, user_id: int, key: str, request_hash: str, method: str, path: str) -> Claim:
    """Insert the key, or find who holds it. Raises Conflict on reuse or timeout."""
    _check_key(key)
    deadline = time.monotonic() + settings.IDEMPOTENCY_WAIT_SECONDS
    while True:
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user_id=user_id, key=key, request_hash=request_hash, method=method, path=path
                )
            return Claim(record=record, owned=True)
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
        if existing is None:
            continue  # the holder failed and released the key; try to claim it
        if existing.request_hash != request_hash:
            raise Conflict(
                f"This {HEADER} was already used with a different request.",
                code="idempotency_key_reused",
            )
        if existing.state == IdempotencyKey.State.DONE:
            return Claim(record=existing, owned=False)
        if _take_over_if_stale(existing):
            return Claim(record=existing, owned=True)
        if time.monotonic() >= deadline:
            raise Conflict(
                f"A request with this {HEADER} is still being processed; retry later.",
                code="idempotency_request_in_progress",
            )
        time.sleep(POLL_SECONDS)


def finish_key(record: IdempotencyKey, response: Response) -> None:
    body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.DONE,
        status_code=response.status_code,
        response_body=body,
        updated_at=timezone.now(),
    )


def release_key(record: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.RUNNING).delete()


def replay(record: IdempotencyKey) -> Response:
    assert record.status_code is not None
    response = Response(record.response_body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def purge_expired_keys(*, now: Any = None) -> int:
    """Delete keys older than ``IDEMPOTENCY_KEEP_HOURS``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def idempotent(view_method: ViewMethod) -> ViewMethod:
    """Decorate a DRF view's ``post``: runs once per (user, Idempotency-Key)."""

    @functools.wraps(view_method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None or not request.user.is_authenticated:
            return view_method(view, request, *args, **kwargs)
        claim = claim_key(
            user_id=request.user.pk,
            key=key,
            request_hash=fingerprint(request),
            method=request.method or "",
            path=request.path,
        )
        if not claim.owned:
            return replay(claim.record)
        try:
            try:
                response = view_method(view, request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - turned into the stored 4xx below
                response = view.handle_exception(exc)
        except BaseException:
            release_key(claim.record)
            raise
        if response.status_code >= 500:
            release_key(claim.record)
        else:
            finish_key(claim.record, response)
        return response

    return cast(ViewMethod, extend_schema(parameters=[IDEMPOTENCY_PARAMETER])(wrapper))
