"""Escrow in the ops console. Everything here is read-only; money moves only
through services, which the admin actions call (one service per action)."""

from django.contrib import admin

from escrow.admin_base import ReadOnlyAdmin
from escrow.models import ChainDeployment, LedgerAccount, Transfer


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


# Each area registers its own models.
from escrow import admin_card, admin_chain, admin_payouts, admin_records  # noqa: E402, F401


@admin.register(ChainDeployment)
class ChainDeploymentAdmin(ReadOnlyAdmin):
    """Written by ``manage.py chain_deploy`` only."""

    list_display = ("contract_name", "chain_id", "address", "block_number", "deployed_at")
    list_filter = ("chain_id",)
