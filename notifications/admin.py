"""Notifications in the admin: read-only, for support ("was I told?", "was it mailed?").
Rows are written by ``notifications.services.notify`` and changed only by their user."""

from __future__ import annotations

from django.contrib import admin

from notifications.models import Notification, NotificationPreference
from smartpay.admin_readonly import ReadOnlyAdmin


class ReadOnly(ReadOnlyAdmin):
    pass


@admin.register(Notification)
class NotificationAdmin(ReadOnly):
    list_display = ("created_at", "user", "verb", "title", "read_at", "emailed_at")
    list_filter = ("verb", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "user__email", "verb")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnly):
    list_display = ("user", "verb", "channel", "enabled", "updated_at")
    list_filter = ("channel", "enabled", "verb")
    search_fields = ("user__email", "verb")
    list_select_related = ("user",)
