"""Releases, connected accounts and payouts in the ops console."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from escrow.admin_base import ReadOnlyAdmin, money, run_service, staff_member, too_many
from escrow.models import Payout, PayoutAccount, Release
from escrow.services import payouts


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = (
        "milestone",
        "freelancer",
        "shown_amount",
        "shown_fee",
        "shown_share",
        "shown_returned",
        "status",
        "available_at",
        "released_by",
    )
    list_filter = ("status", "currency")
    search_fields = ("milestone__title", "freelancer__email")
    list_select_related = ("milestone", "freelancer", "released_by")
    readonly_fields = (
        "milestone",
        "freelancer",
        "released_by",
        "shown_amount",
        "shown_fee",
        "fee_bps",
        "shown_share",
        "shown_returned",
        "status",
        "available_at",
        "created_at",
    )

    @admin.display(description="Released", ordering="amount")
    def shown_amount(self, release: Release) -> str:
        return money(release.amount, release.currency)

    @admin.display(description="Fee")
    def shown_fee(self, release: Release) -> str:
        return money(release.fee, release.currency)

    @admin.display(description="To the freelancer")
    def shown_share(self, release: Release) -> str:
        return money(release.freelancer_amount, release.currency)

    @admin.display(description="Back to the client")
    def shown_returned(self, release: Release) -> str:
        return money(release.returned_amount, release.currency)


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "user",
        "account_id",
        "provider",
        "status",
        "payouts_enabled",
        "auto_payout_weekly",
        "updated_at",
    )
    list_filter = ("status", "payouts_enabled", "auto_payout_weekly", "provider")
    search_fields = ("account_id", "user__email")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "provider",
        "account_id",
        "status",
        "payouts_enabled",
        "requirements_due",
        "auto_payout_weekly",
        "created_at",
        "updated_at",
    )


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "user",
        "shown_amount",
        "status",
        "attempts",
        "next_attempt_at",
        "failure_message",
        "automatic",
        "created_at",
    )
    list_filter = ("status", "automatic", "currency")
    search_fields = ("provider_transfer_id", "user__email", "request_key")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "account",
        "shown_amount",
        "status",
        "automatic",
        "provider_transfer_id",
        "attempts",
        "next_attempt_at",
        "failure_message",
        "shown_reversed",
        "request_key",
        "created_at",
        "updated_at",
        "paid_at",
    )
    actions = ("retry_now",)

    @admin.display(description="Amount", ordering="amount")
    def shown_amount(self, payout: Payout) -> str:
        return money(payout.amount, payout.currency)

    @admin.display(description="Reversed")
    def shown_reversed(self, payout: Payout) -> str:
        return money(payout.reversed_amount, payout.currency)

    @admin.action(description="Retry now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        chosen = list(queryset.values_list("pk", flat=True))
        if too_many(request, len(chosen)):
            return
        for payout_id in chosen:
            payout = run_service(
                request,
                f"Payout {payout_id}",
                partial(
                    payouts.send_payout,
                    payout_id=payout_id,
                    now_not_later=True,
                    actor=staff_member(request),
                ),
            )
            if payout is not None:
                messages.info(request, f"Payout {payout_id}: {describe(payout)}")


def describe(payout: Payout) -> str:
    """The payout's state after an attempt, in words."""
    said = payout.get_status_display()
    if payout.failure_message and payout.status != Payout.Status.PAID:
        said += f" ({payout.failure_message})"
    if payout.status == Payout.Status.RETRYING and payout.next_attempt_at:
        said += f"; next attempt {payout.next_attempt_at:%d %b %Y %H:%M} UTC"
    return said + f"; {payout.attempts} attempt(s) so far."
