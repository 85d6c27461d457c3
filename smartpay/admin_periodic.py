"""Periodic tasks in the ops console: each task's last run in words, with a link to its
beat schedule (editable under Periodic tasks) and an action that queues a run now."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django_celery_beat.models import PeriodicTask

from smartpay.admin_readonly import ReadOnlyAdmin
from smartpay.celery import app as celery_app
from smartpay.models import PeriodicRun
from smartpay.schedule import BY_NAME, is_overdue


@admin.register(PeriodicRun)
class PeriodicRunAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "state",
        "last_success",
        "last_summary",
        "last_failure_at",
        "last_duration_ms",
        "runs",
        "failures",
        "skipped_overlaps",
        "schedule",
    )
    readonly_fields = [field.name for field in PeriodicRun._meta.fields]
    search_fields = ("name", "last_summary", "last_error")
    actions = ("run_now",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicRun]:
        # The beat row's id and switch, in the list's one query (the admin instance is
        # shared by every request, so nothing is kept on it).
        beat = PeriodicTask.objects.filter(name=OuterRef("name"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                beat_id=Subquery(beat.values("pk")[:1]),
                beat_enabled=Subquery(beat.values("enabled")[:1]),
            )
        )

    @admin.display(description="state")
    def state(self, run: PeriodicRun) -> str:
        enabled = getattr(run, "beat_enabled", None)
        if enabled is None or run.name not in BY_NAME:
            return "Not scheduled"
        if not enabled:
            return "Disabled"
        if is_overdue(run, enabled=True, now=timezone.now()):
            return "Overdue: no success for longer than expected"
        if run.last_success_at is None:
            return "Waiting for its first run"
        return "On time"

    @admin.display(description="last success", ordering="last_success_at")
    def last_success(self, run: PeriodicRun) -> str:
        if run.last_success_at is None:
            return "never"
        return f"{timesince(run.last_success_at, timezone.now())} ago"

    @admin.display(description="schedule")
    def schedule(self, run: PeriodicRun) -> str:
        beat_id = getattr(run, "beat_id", None)
        if beat_id is None:
            return "-"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[beat_id])
        return format_html('<a href="{}">edit schedule</a>', url)

    @admin.action(description="Run the selected tasks now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[PeriodicRun]) -> None:
        queued = []
        for run in queryset:
            entry = BY_NAME.get(run.name)
            if entry is None:
                continue
            celery_app.send_task(entry.task)
            queued.append(run.name)
        if queued:
            self.message_user(request, f"Queued: {', '.join(queued)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of those tasks is scheduled.", messages.WARNING)
