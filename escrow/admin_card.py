"""Card money in the ops console: fundings, refunds, refund requests, escrow holds."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from escrow.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    money,
    run_service,
    staff_member,
    too_many,
)
from escrow.models import EscrowHold, Funding, FundingItem, Refund, RefundRequest
from escrow.services import holds, refunds
from marketplace.models import User


class FundingItemInline(ReadOnlyInline):
    model = FundingItem
    fields = ("milestone", "shown_amount", "applied")
    readonly_fields = fields

    @admin.display(description="Amount")
    def shown_amount(self, item: FundingItem) -> str:
        return money(item.amount, item.funding.currency)


@admin.register(Funding)
class FundingAdmin(ReadOnlyAdmin):
    list_display = ("pk", "client", "contract", "source", "status", "shown_amount", "created_at")
    list_filter = ("status", "source", "currency", "provider")
    search_fields = ("payment_intent_id", "client__email", "contract__title", "request_key")
    list_select_related = ("client", "contract")
    readonly_fields = (
        "client",
        "contract",
        "source",
        "provider",
        "status",
        "shown_amount",
        "payment_intent_id",
        "checkout_url",
        "failure_message",
        "request_key",
        "created_at",
        "updated_at",
        "succeeded_at",
    )
    exclude = ("client_secret",)  # lets anyone holding it confirm the payment
    inlines = (FundingItemInline,)

    @admin.display(description="Amount", ordering="amount")
    def shown_amount(self, funding: Funding) -> str:
        return money(funding.amount, funding.currency)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "milestone",
        "client",
        "destination",
        "shown_amount",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "destination", "currency")
    search_fields = ("provider_refund_id", "client__email", "milestone__title")
    list_select_related = ("milestone", "client")
    readonly_fields = (
        "milestone",
        "funding",
        "client",
        "requested_by",
        "destination",
        "shown_amount",
        "status",
        "provider_refund_id",
        "attempts",
        "next_attempt_at",
        "failure_message",
        "created_at",
        "updated_at",
    )
    actions = ("send_to_card_now",)

    @admin.display(description="Amount", ordering="amount")
    def shown_amount(self, refund: Refund) -> str:
        return money(refund.amount, refund.currency)

    @admin.action(description="Send the card refund now")
    def send_to_card_now(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        chosen = list(queryset.values_list("pk", "destination", "status"))
        if too_many(request, len(chosen)):
            return
        for refund_id, destination, status in chosen:
            if destination != Refund.Destination.CARD or status != Refund.Status.PENDING:
                messages.warning(request, f"Refund {refund_id} is not waiting for the card.")
                continue
            refund = run_service(
                request,
                f"Refund {refund_id}",
                partial(refunds.send_card_refund, refund_id=refund_id, actor=staff_member(request)),
            )
            if refund is not None:
                note = f" ({refund.failure_message})" if refund.failure_message else ""
                messages.info(request, f"Refund {refund_id}: {refund.get_status_display()}{note}.")


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "milestone",
        "requested_by",
        "destination",
        "status",
        "respond_by",
        "created_at",
    )
    list_filter = ("status", "destination")
    search_fields = ("milestone__title", "requested_by__email", "reason")
    list_select_related = ("milestone", "requested_by")
    readonly_fields = (
        "milestone",
        "requested_by",
        "reason",
        "destination",
        "status",
        "respond_by",
        "created_at",
        "closed_at",
    )


@admin.register(EscrowHold)
class EscrowHoldAdmin(ReadOnlyAdmin):
    list_display = ("milestone", "reason", "cause", "state", "created_at", "lifted_by")
    list_filter = (("lifted_at", admin.EmptyFieldListFilter),)
    search_fields = ("cause", "reason", "milestone__title")
    list_select_related = ("milestone", "lifted_by")
    readonly_fields = (
        "milestone",
        "reason",
        "cause",
        "state",
        "created_at",
        "lifted_at",
        "lifted_by",
    )
    actions = ("lift",)

    @admin.display(description="State")
    def state(self, hold: EscrowHold) -> str:
        if hold.lifted_at is None:
            return "Frozen — money can't move"
        return f"Lifted {hold.lifted_at:%d %b %Y %H:%M}"

    @admin.action(description="Lift hold")
    def lift(self, request: HttpRequest, queryset: QuerySet[EscrowHold]) -> None:
        chosen = list(queryset.values_list("pk", "milestone_id"))
        if too_many(request, len(chosen)):
            return
        actor = request.user
        assert isinstance(actor, User)  # the admin site admits only logged-in staff
        for hold_id, milestone_id in chosen:
            hold = run_service(
                request,
                f"Hold {hold_id}",
                partial(holds.lift_hold, actor=actor, hold_id=hold_id),
            )
            if hold is not None:
                messages.success(
                    request, f"Hold {hold_id} lifted: milestone {milestone_id}'s money may move."
                )
