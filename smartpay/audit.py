"""The audit log's one writer: ``record(actor, action, target, before=, after=)``.

Every service that changes state calls it inside its transaction, so the entry
commits or rolls back with the change. Where the action came from (address,
browser, request id, or the task or command) is read from ``request_context``.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from smartpay.models import AuditEntry
from smartpay.request_context import current_origin

Snapshot = dict[str, Any]


def record(
    actor: Any,
    action: str,
    target: models.Model | None = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    note: str = "",
) -> AuditEntry:
    """Append one entry. ``actor`` is a user, or None for the system (a task, sync,
    a deadline); ``action`` is ``<object>.<verb>`` in the past tense."""
    origin = current_origin()
    is_user = actor is not None and getattr(actor, "pk", None) is not None
    return AuditEntry.objects.create(
        actor=actor if is_user else None,
        actor_label=_label(actor, origin.source),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        note=note,
        source=origin.source,
        user_agent=origin.user_agent,
        request_id=origin.request_id,
    )


def snapshot(obj: models.Model, fields: Iterable[str]) -> Snapshot:
    """The named fields of ``obj`` as JSON-safe values (for ``before``/``after``);
    foreign keys by their id (``contract`` reads ``contract_id``)."""
    values: Snapshot = {}
    for name in fields:
        field = obj._meta.get_field(name)
        attname = getattr(field, "attname", name)
        values[name] = getattr(obj, attname)
    return _jsonable(values)


def _label(actor: Any, source: str) -> str:
    if actor is None:
        return source if source != "system" else "system"
    return str(getattr(actor, "email", "") or actor)[:254]


def _jsonable(values: Mapping[str, Any]) -> Snapshot:
    return {str(key): _value(value) for key, value in values.items()}


def _value(value: Any) -> Any:
    # Amounts may exceed what JSON readers hold exactly (wei): whole numbers above
    # 2**53 are written as strings.
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, decimal.Decimal):
        return _value(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, enum.Enum):
        return _value(value.value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return _jsonable(value)
    if isinstance(value, list | tuple | set):
        return [_value(item) for item in value]
    return str(value)
