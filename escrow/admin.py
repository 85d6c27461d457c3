"""Ledger in the ops console: read-only; money moves only through escrow.ledger.move."""

from django.contrib import admin
from django.http import HttpRequest

from escrow.models import LedgerAccount, Transfer


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("pk", "kind", "currency", "rail", "owner", "milestone", "balance")
    list_filter = ("kind", "currency", "rail")
    search_fields = ("owner__email",)
    list_select_related = ("owner", "milestone")


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "idempotency_key", "source", "destination", "amount", "currency")
    list_filter = ("currency",)
    search_fields = ("idempotency_key", "memo")
    list_select_related = ("source", "destination")
