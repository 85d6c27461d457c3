"""Webhook events and reconciliation reports in the ops console."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from escrow.admin_base import ReadOnlyAdmin, run_service, staff_member, too_many
from escrow.models import ReconciliationReport, WebhookEvent
from escrow.services import reconciliation, webhooks


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "event_id",
        "type",
        "status",
        "attempts",
        "deliveries",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "type", "provider", "livemode")
    search_fields = ("event_id", "type")
    readonly_fields = (
        "event_id",
        "type",
        "provider",
        "livemode",
        "created",
        "status",
        "attempts",
        "deliveries",
        "error",
        "received_at",
        "processed_at",
        "pretty_payload",
    )
    exclude = ("payload",)
    actions = ("process_again",)

    @admin.display(description="Payload")
    def pretty_payload(self, event: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2, sort_keys=True))

    @admin.action(description="Process again")
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        chosen = list(queryset.values_list("event_id", flat=True))
        if too_many(request, len(chosen)):
            return
        for event_id in chosen:
            event = run_service(
                request,
                f"Event {event_id}",
                partial(webhooks.process_event, event_id),
            )
            if event is not None:
                error = f" ({event.error})" if event.error else ""
                messages.info(request, f"Event {event_id}: {event.get_status_display()}{error}.")


# The button sits above the list, so a run needs no report selected (there may be none).
RUN_BUTTON = engines["django"].from_string(
    """{% extends "admin/change_list.html" %}
{% block object-tools-items %}
<li><form method="post" action="{% url 'admin:escrow_reconciliationreport_run' %}">
{% csrf_token %}<input type="submit" value="Run reconciliation now"></form></li>
{{ block.super }}
{% endblock %}"""
)


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "outcome", "drift_in_words", "finished_at")
    list_filter = ("ok",)
    readonly_fields = (
        "started_at",
        "finished_at",
        "outcome",
        "problems_in_words",
        "drift_in_words",
        "checked_transfers",
        "checked_provider_entries",
    )
    exclude = ("ok", "problems", "drift")
    actions = ("run_now",)

    @admin.display(description="Outcome", ordering="ok")
    def outcome(self, report: ReconciliationReport) -> str:
        if report.finished_at is None:
            return "Did not finish"
        if report.ok:
            return "Clean — ledger and card rail agree"
        return f"{len(report.problems)} problem(s) found"

    @admin.display(description="Problems")
    def problems_in_words(self, report: ReconciliationReport) -> str:
        if not report.problems:
            return "None."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", _rows(report)))

    @admin.display(description="Rails against the provider and the chain")
    def drift_in_words(self, report: ReconciliationReport) -> str:
        lines = reconciliation.describe_drift(report)
        if not lines:
            return "Not compared."
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines))

    @admin.action(description="Run reconciliation now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[ReconciliationReport]) -> None:
        self._run(request)

    def _run(self, request: HttpRequest) -> None:
        report = run_service(
            request,
            "Reconciliation",
            partial(reconciliation.reconcile, actor=staff_member(request)),
        )
        if report is None:
            return
        if report.ok:
            messages.success(request, f"Report {report.pk}: ledger and card rail agree.")
        else:
            messages.warning(
                request, f"Report {report.pk}: {len(report.problems)} problem(s) found."
            )

    def get_urls(self) -> list[URLPattern]:
        run = path(
            "run/",
            self.admin_site.admin_view(self.run_view),
            name="escrow_reconciliationreport_run",
        )
        return [run, *super().get_urls()]

    def run_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            messages.error(request, "You may not run reconciliation.")
        else:
            self._run(request)
        return HttpResponseRedirect(reverse("admin:escrow_reconciliationreport_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse):
            response.template_name = RUN_BUTTON
        return response


def _rows(report: ReconciliationReport) -> list[tuple[str]]:
    return [(str(problem),) for problem in report.problems]
