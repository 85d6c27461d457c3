"""The audit log in the ops console: read by staff, written only by services.

Nobody adds, changes or deletes an entry here, superusers included: the log is
append-only (the model refuses saves of existing rows and, on PostgreSQL, a trigger
refuses UPDATE and DELETE)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from smartpay.admin_readonly import ReadOnlyAdmin
from smartpay.models import AuditEntry

SOURCE_KINDS = (
    ("address", "A web request"),
    ("task", "A background task"),
    ("command", "A management command"),
    ("system", "The system"),
)


class ObjectFilter(admin.SimpleListFilter):
    """By the object an action is about: the part of ``action`` before the dot."""

    title = "object"
    parameter_name = "object"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        actions = AuditEntry.objects.order_by().values_list("action", flat=True).distinct()
        objects = sorted({action.split(".", 1)[0] for action in actions})
        return [(name, name.replace("_", " ")) for name in objects]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> Any:
        if self.value():
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


class AreaFilter(admin.SimpleListFilter):
    """By the app the target belongs to (marketplace, escrow, disputes …)."""

    title = "area"
    parameter_name = "area"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        types = AuditEntry.objects.order_by().values_list("target_type", flat=True).distinct()
        areas = sorted({kind.split(".", 1)[0] for kind in types if kind})
        return [(area, area) for area in areas]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> Any:
        if self.value():
            return queryset.filter(target_type__startswith=f"{self.value()}.")
        return queryset


class SourceFilter(admin.SimpleListFilter):
    """Where the action came from: a request (an address), a task, a command, the system."""

    title = "source"
    parameter_name = "source_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, str], ...]:
        return SOURCE_KINDS

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> Any:
        not_a_request = (
            Q(source__startswith="task:") | Q(source__startswith="command:") | Q(source="system")
        )
        match self.value():
            case "task":
                return queryset.filter(source__startswith="task:")
            case "command":
                return queryset.filter(source__startswith="command:")
            case "system":
                return queryset.filter(source="system")
            case "address":
                return queryset.exclude(not_a_request)
        return queryset


def _pretty(value: Any) -> str:
    if value is None:
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="audit-json">{}</pre>', text)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "target", "source")
    list_filter = (ObjectFilter, AreaFilter, SourceFilter, "created_at")
    search_fields = ("actor_label", "=target_id", "=request_id")
    search_help_text = "An actor's e-mail (or part of it), a target's id, or a request id."
    date_hierarchy = "created_at"
    show_full_result_count = False  # the log only grows; counting it all is slow
    actions = None
    fields = (
        "created_at",
        "actor_label",
        "actor_account",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "pretty_before",
        "pretty_after",
        "note",
        "source",
        "user_agent",
        "request_id",
    )
    readonly_fields = fields

    @admin.display(description="target", ordering="target_type")
    def target(self, entry: AuditEntry) -> str:
        if not entry.target_type:
            return "—"
        return f"{entry.target_type} #{entry.target_id} {entry.target_repr}".strip()

    @admin.display(description="account id")
    def actor_account(self, entry: AuditEntry) -> str:
        # The id only: the account may be gone, and the log must still open.
        return str(entry.actor_id) if entry.actor_id is not None else "—"

    @admin.display(description="before")
    def pretty_before(self, entry: AuditEntry) -> str:
        return _pretty(entry.before)

    @admin.display(description="after")
    def pretty_after(self, entry: AuditEntry) -> str:
        return _pretty(entry.after)


from smartpay import admin_periodic  # noqa: E402, F401 - registers PeriodicRun's admin
