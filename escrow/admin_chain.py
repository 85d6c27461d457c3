"""The chain rail in the ops console: escrows, chain sync (cursor, checkpoints, logs) and
the platform key's transactions. All read-only; "Retry now" and "Resolve on chain" call
services (``escrow.chain.arbiter``) and report the outcome as a message."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from escrow.admin_base import ReadOnlyAdmin, money, run_service, staff_member, too_many
from escrow.chain import arbiter
from escrow.models import ChainCheckpoint, ChainCursor, ChainEscrow, ChainLog, ChainTransaction
from marketplace.models import Milestone

Status = ChainTransaction.Status
STEPS = (Status.QUEUED, Status.SENT, Status.MINED, Status.CONFIRMED)


@admin.register(ChainEscrow)
class ChainEscrowAdmin(ReadOnlyAdmin):
    list_display = (
        "onchain_id",
        "contract",
        "status",
        "chain_id",
        "client_address",
        "freelancer_address",
        "created_block",
        "resolve_link",
    )
    list_filter = ("status", "chain_id")
    search_fields = ("contract__title", "client_address", "freelancer_address", "created_tx")
    list_select_related = ("contract",)
    readonly_fields = (
        "contract",
        "chain_id",
        "onchain_id",
        "status",
        "token",
        "milestones_in_words",
        "client_address",
        "freelancer_address",
        "created_tx",
        "created_block",
        "rejected_ids",
        "created_at",
        "updated_at",
    )
    exclude = ("milestone_ids",)
    actions = ("resolve_on_chain",)

    @admin.display(description="Milestones (on-chain index: milestone)")
    def milestones_in_words(self, escrow: ChainEscrow) -> str:
        found = Milestone.objects.in_bulk(escrow.milestone_ids)
        lines = []
        for index, milestone_id in enumerate(escrow.milestone_ids):
            milestone = found.get(milestone_id)
            if milestone is not None:
                amount = money(milestone.amount, escrow.contract.currency)
                lines.append(f"{index}: {milestone.title} — {amount}, {milestone.status}")
        return "; ".join(lines) or "—"

    @admin.display(description="Disputes")
    def resolve_link(self, escrow: ChainEscrow) -> str:
        if not _disputed(escrow):
            return "—"
        url = reverse("admin:escrow_chainescrow_resolve", args=[escrow.pk])
        return format_html('<a href="{}">Resolve on chain…</a>', url)

    @admin.action(description="Resolve a disputed milestone on chain")
    def resolve_on_chain(
        self, request: HttpRequest, queryset: QuerySet[ChainEscrow]
    ) -> HttpResponse | None:
        chosen = list(queryset.values_list("pk", flat=True)[:2])
        if len(chosen) != 1:
            messages.warning(request, "Choose one escrow to resolve a milestone of.")
            return None
        return HttpResponseRedirect(reverse("admin:escrow_chainescrow_resolve", args=chosen))

    def get_urls(self) -> list[URLPattern]:
        resolve = path(
            "<int:escrow_id>/resolve/",
            self.admin_site.admin_view(self.resolve_view),
            name="escrow_chainescrow_resolve",
        )
        return [resolve, *super().get_urls()]

    def resolve_view(self, request: HttpRequest, escrow_id: int) -> HttpResponse:
        """Pick a disputed milestone and a share, preview the split, then confirm: the
        confirmation calls ``resolve_on_chain`` (which checks the arbiter's rights)."""
        if not self.has_view_permission(request):
            messages.error(request, "You may not resolve disputes.")
            return HttpResponseRedirect(reverse("admin:index"))
        escrow = get_object_or_404(ChainEscrow.objects.select_related("contract"), pk=escrow_id)
        form = ResolveForm(escrow, request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid():
            milestone = form.cleaned_data["milestone"]
            bps = form.bps()
            if "confirm" in request.POST:
                row = run_service(
                    request,
                    "Resolve on chain",
                    partial(
                        arbiter.resolve_on_chain,
                        actor=staff_member(request),
                        milestone_id=milestone.pk,
                        freelancer_bps=bps,
                        note=form.cleaned_data["note"],
                    ),
                )
                if row is not None:
                    messages.success(
                        request,
                        f"Chain transaction {row.pk} ({row.key}): {describe(row)}",
                    )
                    return HttpResponseRedirect(
                        reverse("admin:escrow_chaintransaction_change", args=[row.pk])
                    )
            else:
                preview = _preview(escrow, milestone, bps)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Resolve a disputed milestone of escrow {escrow.onchain_id} on chain",
            "escrow": escrow,
            "form": form,
            "preview": preview,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, RESOLVE_PAGE, context)


class ResolveForm(forms.Form):
    milestone = forms.ModelChoiceField(queryset=Milestone.objects.none(), empty_label=None)
    share_percent = forms.DecimalField(
        label="Freelancer's share (%)",
        min_value=Decimal(0),
        max_value=Decimal(100),
        decimal_places=2,
        help_text="0 gives everything back to the client; 100 pays the freelancer in full "
        "(less the platform fee).",
    )
    note = forms.CharField(
        required=False, max_length=200, help_text="Recorded on the contract's timeline."
    )

    def __init__(self, escrow: ChainEscrow, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["milestone"]
        field.queryset = _disputed(escrow)
        field.label_from_instance = lambda m: (
            f"{m.title} — {money(m.amount, escrow.contract.currency)}"
        )

    def bps(self) -> int:
        return int(self.cleaned_data["share_percent"] * 100)


# Dispute cases' statuses before their money has moved (the disputes app's
# Dispute.UNFINISHED; escrow reads that app's table but never imports it).
CASE_UNFINISHED = ("open", "responded", "escalated", "confirming", "decided", "resolving")


def _disputed(escrow: ChainEscrow) -> QuerySet[Milestone]:
    """Disputed milestones with no SmartPay case: a party disputed straight on the
    contract. A milestone with a case is decided on the case page, where assignment,
    the second arbiter and the appeal apply."""
    return (
        Milestone.objects.filter(pk__in=escrow.milestone_ids, status=Milestone.Status.DISPUTED)
        .exclude(disputes__status__in=CASE_UNFINISHED)
        .order_by("position")
    )


def _preview(escrow: ChainEscrow, milestone: Milestone, bps: int) -> dict[str, str]:
    currency = escrow.contract.currency
    net, fee, back = arbiter.split(int(milestone.amount), bps, escrow.contract.fee_bps)
    return {
        "milestone": f"{milestone.title} ({money(milestone.amount, currency)})",
        "share": f"{bps / 100:g} %",
        "freelancer": money(net, currency),
        "fee": money(fee, currency),
        "client": money(back, currency),
    }


RESOLVE_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block content %}
<p>Escrow {{ escrow.onchain_id }} of “{{ escrow.contract }}” on chain {{ escrow.chain_id }}.
The platform key sends <code>resolve</code>; the split happens on chain and reaches the
ledger when chain sync reads the <code>Resolved</code> event.</p>
{% if not form.fields.milestone.queryset.exists %}<p>No milestone of this escrow is in dispute.</p>
{% else %}
<form method="post">{% csrf_token %}
<table>{{ form.as_table }}</table>
{% if preview %}
<h2>Split of {{ preview.milestone }} at {{ preview.share }}</h2>
<table>
<tr><th>To the freelancer (after the fee)</th><td>{{ preview.freelancer }}</td></tr>
<tr><th>Platform fee</th><td>{{ preview.fee }}</td></tr>
<tr><th>Back to the client</th><td>{{ preview.client }}</td></tr>
</table>
<p><input type="submit" name="confirm" value="Send the resolve transaction"></p>
{% endif %}
<p><input type="submit" name="preview" value="Preview the split"></p>
</form>{% endif %}
{% endblock %}"""
)


# --- chain sync -----------------------------------------------------------------------------


@admin.register(ChainCursor)
class ChainCursorAdmin(ReadOnlyAdmin):
    list_display = (
        "address",
        "chain_id",
        "next_block",
        "head_block",
        "lag_in_words",
        "batch_size",
        "last_synced_at",
        "last_error",
    )
    list_filter = ("chain_id",)
    readonly_fields = (
        "chain_id",
        "address",
        "next_block",
        "head_block",
        "lag_in_words",
        "latest_checkpoint",
        "batch_size",
        "last_synced_at",
        "last_error",
        "updated_at",
    )

    @admin.display(description="Lag")
    def lag_in_words(self, cursor: ChainCursor) -> str:
        if cursor.last_synced_at is None:
            return "never synced"
        lag = cursor.lag
        return "up to date" if lag == 0 else f"{lag} block(s) behind the head"

    @admin.display(description="Latest checkpoint")
    def latest_checkpoint(self, cursor: ChainCursor) -> str:
        checkpoint = cursor.checkpoints.order_by("-block_number").first()
        return str(checkpoint) if checkpoint else "—"


@admin.register(ChainCheckpoint)
class ChainCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("block_number", "block_hash", "cursor")
    list_filter = ("cursor",)
    search_fields = ("block_hash",)
    list_select_related = ("cursor",)


@admin.register(ChainLog)
class ChainLogAdmin(ReadOnlyAdmin):
    list_display = ("block_number", "log_index", "event", "status", "escrow", "tx_hash", "note")
    list_filter = ("event", "status", "chain_id")
    search_fields = ("tx_hash",)
    list_select_related = ("escrow",)
    readonly_fields = (
        "chain_id",
        "address",
        "tx_hash",
        "log_index",
        "block_number",
        "block_hash",
        "event",
        "args",
        "escrow",
        "status",
        "note",
        "transfer_keys",
        "undo",
        "created_at",
        "rolled_back_at",
    )


# --- the platform key's transactions ---------------------------------------------------------


@admin.register(ChainTransaction)
class ChainTransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "milestone",
        "progress",
        "tx_hash",
        "nonce",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "kind", "chain_id")
    search_fields = ("key", "tx_hash")
    list_select_related = ("milestone",)
    readonly_fields = (
        "key",
        "kind",
        "milestone",
        "progress",
        "chain_id",
        "from_address",
        "to_address",
        "data",
        "tx_hash",
        "nonce",
        "gas",
        "block_number",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "updated_at",
    )
    exclude = ("status", "value")
    actions = ("retry_now",)

    @admin.display(description="Status", ordering="status")
    def progress(self, row: ChainTransaction) -> str:
        return describe(row)

    @admin.action(description="Retry now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[ChainTransaction]) -> None:
        chosen = list(queryset.values_list("pk", flat=True))
        if too_many(request, len(chosen)):
            return
        for tx_id in chosen:
            row = run_service(
                request,
                f"Chain transaction {tx_id}",
                partial(arbiter.retry_chain_transaction, tx_id, actor=staff_member(request)),
            )
            if row is not None:
                messages.info(request, f"Chain transaction {tx_id}: {describe(row)}")


def describe(row: ChainTransaction) -> str:
    """Where the row is on queued → sent → mined → confirmed, in words."""
    if row.status == Status.FAILED:
        return f"Failed: {row.last_error or 'no reason recorded'}"
    done = STEPS.index(Status(row.status))
    trail = " → ".join(
        step.label.split(" —")[0].upper() if i == done else step.label.split(" —")[0].lower()
        for i, step in enumerate(STEPS)
    )
    said = f"{trail}. {row.get_status_display()}"
    if row.status == Status.MINED and row.block_number is not None:
        wanted = max(0, int(settings.CHAIN_CONFIRMATIONS))
        said += f" (block {row.block_number}, {wanted} confirmation(s) wanted)"
    if row.status == Status.QUEUED and row.last_error:
        said += f"; last attempt: {row.last_error}"
    return said + "."
