"""Admin for contracts: a read-only view for operations. Status changes happen only
through the services (and the milestone transition table), never by editing a row."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from marketplace.models import (
    Contract,
    ContractActivity,
    Milestone,
    MilestoneEvent,
    Submission,
    SubmissionFile,
)
from smartpay.admin_readonly import ReadOnlyAdmin as PlatformReadOnlyAdmin


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(PlatformReadOnlyAdmin):
    """Audit rows: visible, never added, changed or deleted by hand."""


class MilestoneInline(ReadOnlyInline):
    model = Milestone
    fields = (
        "position",
        "title",
        "amount",
        "due_date",
        "status",
        "submitted_at",
        "review_deadline",
    )
    readonly_fields = fields
    ordering = ("position",)


class ContractActivityInline(ReadOnlyInline):
    model = ContractActivity
    fields = ("created_at", "actor", "verb", "summary")
    readonly_fields = fields
    show_change_link = False


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("title", "client", "freelancer", "status", "currency", "rail", "created_at")
    list_filter = ("status", "rail", "currency")
    search_fields = ("title", "client__email", "freelancer__email")
    list_select_related = ("client", "freelancer")
    readonly_fields = (
        "job",
        "proposal",
        "client",
        "freelancer",
        "title",
        "currency",
        "rail",
        "fee_bps",
        "status",
        "created_at",
        "accepted_at",
        "completed_at",
    )
    inlines = (MilestoneInline, ContractActivityInline)


@admin.register(MilestoneEvent)
class MilestoneEventAdmin(ReadOnlyAdmin):
    list_display = ("milestone", "from_status", "to_status", "actor", "created_at")
    list_filter = ("to_status",)
    search_fields = ("milestone__title", "milestone__contract__title", "note")
    list_select_related = ("milestone", "actor")
    readonly_fields = ("milestone", "from_status", "to_status", "actor", "note", "created_at")


class SubmissionFileInline(ReadOnlyInline):
    model = SubmissionFile
    fields = ("name", "size", "content_type", "sha256", "file")
    readonly_fields = fields
    show_change_link = False


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = ("milestone", "number", "submitted_by", "created_at")
    search_fields = ("milestone__title", "milestone__contract__title", "message")
    list_select_related = ("milestone", "submitted_by")
    readonly_fields = ("milestone", "number", "message", "submitted_by", "created_at")
    inlines = (SubmissionFileInline,)


@admin.register(ContractActivity)
class ContractActivityAdmin(ReadOnlyAdmin):
    list_display = ("summary", "contract", "actor", "verb", "created_at")
    list_filter = ("verb",)
    search_fields = ("summary", "contract__title")
    list_select_related = ("contract", "actor")
    readonly_fields = ("contract", "actor", "verb", "summary", "created_at")
