"""Serializers of the escrow API: inputs are validated here, rules live in the services."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escrow.models import (
    Funding,
    FundingItem,
    Payout,
    PayoutAccount,
    Refund,
    RefundRequest,
    Release,
)
from escrow.services.funding import MAX_MILESTONES_PER_FUNDING
from escrow.services.refunds import MAX_REASON_CHARS
from escrow.statements import USER_KINDS
from marketplace.money import CURRENCIES, CURRENCY_CHOICES, Rail, format_amount
from smartpay.api.fields import ChoiceLabelField

CARD_CURRENCIES = [code for code, spec in CURRENCIES.items() if spec.rail == Rail.CARD]
MINOR_UNITS = "Minor units of `currency` (cents)."


def _one_of(values: list[str]) -> str:
    return f"One of: {', '.join(values)}."


@extend_schema_field(OpenApiTypes.STR)
class AmountDisplayField(serializers.Field):
    """An amount in words for people, e.g. "$1,250.00", from ``amount`` and ``currency``."""

    def __init__(self, amount_field: str = "amount", **kwargs: Any) -> None:
        self.amount_field = amount_field
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, instance: Any) -> str:
        return format_amount(getattr(instance, self.amount_field), instance.currency)


class MinorUnitsField(serializers.IntegerField):
    """Stored as NUMERIC(78, 0); shown as a JSON integer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", MINOR_UNITS)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> int:
        return int(value)


def _absolute(context: dict[str, Any], path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


# --- fundings -----------------------------------------------------------------------


class FundingItemSerializer(serializers.ModelSerializer[FundingItem]):
    title = serializers.CharField(source="milestone.title", read_only=True)
    amount = MinorUnitsField()
    applied = serializers.BooleanField(
        read_only=True, help_text="True once this milestone's money is in its escrow."
    )

    class Meta:
        model = FundingItem
        fields = ["milestone", "title", "amount", "applied"]
        read_only_fields = fields


class FundingSerializer(serializers.ModelSerializer[Funding]):
    # "source" (card or balance) is also the name of DRF's Field attribute; the
    # serializer's declared fields are separate, so only the type checker minds.
    source = serializers.CharField(  # type: ignore[assignment]
        read_only=True, help_text=_one_of(Funding.Source.values)
    )
    status = serializers.CharField(read_only=True, help_text=_one_of(Funding.Status.values))
    status_display = ChoiceLabelField("status")
    amount = MinorUnitsField()
    amount_display = AmountDisplayField()
    checkout_url = serializers.CharField(
        read_only=True,
        help_text="Where the client pays (the sandbox checkout page); empty on Stripe, "
        "where the app mounts Stripe's Payment Element with `client_secret`.",
    )
    items = FundingItemSerializer(many=True, read_only=True)
    receipt_url = serializers.SerializerMethodField()

    class Meta:
        model = Funding
        fields = [
            "id",
            "contract",
            "source",
            "status",
            "status_display",
            "amount",
            "amount_display",
            "currency",
            "payment_intent_id",
            "client_secret",
            "checkout_url",
            "failure_message",
            "items",
            "created_at",
            "succeeded_at",
            "receipt_url",
        ]
        read_only_fields = fields

    def get_receipt_url(self, funding: Funding) -> str:
        return _absolute(self.context, reverse("money_funding_receipt", args=[funding.pk]))


class FundSerializer(serializers.Serializer[Any]):
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Funding.Source.choices,
        default=Funding.Source.CARD,
        help_text="`card`: a card payment (pending until the provider confirms it); "
        "`balance`: at once from your available balance.",
    )


class FundManySerializer(FundSerializer):
    milestones = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=MAX_MILESTONES_PER_FUNDING,
        help_text="Ids of unfunded milestones of one contract.",
    )


# --- release, refunds ---------------------------------------------------------------


class ApproveSerializer(serializers.Serializer[Any]):
    amount = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Release less than the milestone (minor units); the rest returns to your "
        "balance. Omit to release it all.",
    )


class ReleaseSerializer(serializers.ModelSerializer[Release]):
    amount = MinorUnitsField(help_text="Released from escrow: the freelancer's share + fee.")
    amount_display = AmountDisplayField()
    fee = MinorUnitsField()
    fee_display = AmountDisplayField("fee")
    freelancer_amount = MinorUnitsField()
    freelancer_amount_display = AmountDisplayField("freelancer_amount")
    returned_amount = MinorUnitsField(help_text="Not released: back to the client's balance.")
    returned_amount_display = AmountDisplayField("returned_amount")
    status = serializers.CharField(read_only=True, help_text=_one_of(Release.Status.values))
    status_display = ChoiceLabelField("status")

    class Meta:
        model = Release
        fields = [
            "id",
            "milestone",
            "currency",
            "amount",
            "amount_display",
            "fee",
            "fee_display",
            "fee_bps",
            "freelancer_amount",
            "freelancer_amount_display",
            "returned_amount",
            "returned_amount_display",
            "status",
            "status_display",
            "available_at",
            "created_at",
        ]
        read_only_fields = fields


class RefundSerializer(serializers.ModelSerializer[Refund]):
    amount = MinorUnitsField()
    amount_display = AmountDisplayField()
    destination = serializers.CharField(
        read_only=True, help_text=_one_of(Refund.Destination.values)
    )
    destination_display = ChoiceLabelField("destination")
    status = serializers.CharField(read_only=True, help_text=_one_of(Refund.Status.values))
    status_display = ChoiceLabelField("status")

    class Meta:
        model = Refund
        fields = [
            "id",
            "milestone",
            "currency",
            "amount",
            "amount_display",
            "destination",
            "destination_display",
            "status",
            "status_display",
            "failure_message",
            "created_at",
        ]
        read_only_fields = fields


class RefundWriteSerializer(serializers.Serializer[Any]):
    destination = serializers.ChoiceField(
        choices=Refund.Destination.choices,
        required=False,
        allow_null=True,
        help_text="Default: where an open request asked for, else back to the card it came from.",
    )


class RefundRequestWriteSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=MAX_REASON_CHARS)
    destination = serializers.ChoiceField(
        choices=Refund.Destination.choices,
        default=Refund.Destination.CARD,
        help_text="`card`: back to the card; `balance`: keep it to fund other milestones.",
    )


class RefundRequestSerializer(serializers.ModelSerializer[RefundRequest]):
    destination = serializers.CharField(
        read_only=True, help_text=_one_of(Refund.Destination.values)
    )
    status = serializers.CharField(read_only=True, help_text=_one_of(RefundRequest.Status.values))
    status_display = ChoiceLabelField("status")

    class Meta:
        model = RefundRequest
        fields = [
            "id",
            "milestone",
            "reason",
            "destination",
            "status",
            "status_display",
            "respond_by",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields


# --- ledger -------------------------------------------------------------------------


class PendingReleaseSerializer(serializers.Serializer[Any]):
    amount = serializers.IntegerField(read_only=True, help_text=MINOR_UNITS)
    amount_display = serializers.CharField(read_only=True)
    available_at = serializers.DateTimeField(read_only=True)
    milestone_title = serializers.CharField(read_only=True)


class BalanceSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField(read_only=True)
    available = serializers.IntegerField(read_only=True, help_text="Yours to pay out or spend.")
    available_display = serializers.CharField(read_only=True)
    pending = serializers.IntegerField(
        read_only=True, help_text="Released to you, on hold until `next_available_at`."
    )
    pending_display = serializers.CharField(read_only=True)
    in_escrow = serializers.IntegerField(
        read_only=True, help_text="Held in escrow for milestones you fund as a client."
    )
    in_escrow_display = serializers.CharField(read_only=True)
    incoming = serializers.IntegerField(
        read_only=True, help_text="Held in escrow for your work as a freelancer."
    )
    incoming_display = serializers.CharField(read_only=True)
    next_available_at = serializers.DateTimeField(read_only=True, allow_null=True)
    pending_releases = PendingReleaseSerializer(many=True, read_only=True)


class StatementLineSerializer(serializers.Serializer[Any]):
    transfer_id = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    type = serializers.CharField(
        read_only=True,
        help_text="card_payment, funding, release, fee, return, available, refund, "
        "card_refund, card_refund_failed, payout, payout_return, payout_reversal or other.",
    )
    description = serializers.CharField(read_only=True)
    amount = serializers.IntegerField(
        read_only=True, help_text="Signed minor units: positive in, negative out."
    )
    amount_display = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    account_kind = serializers.CharField(read_only=True, help_text=_one_of(list(USER_KINDS)))
    balance_after = serializers.IntegerField(read_only=True)
    balance_after_display = serializers.CharField(read_only=True)
    reference = serializers.CharField(read_only=True)


class StatementFilterSerializer(serializers.Serializer[Any]):
    currency = serializers.ChoiceField(choices=list(CURRENCIES), required=False)
    kind = serializers.ChoiceField(choices=list(USER_KINDS), required=False)
    since = serializers.DateField(required=False, help_text="First day, inclusive.")
    until = serializers.DateField(required=False, help_text="Last day, inclusive.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"until": "Must not be before `since`."})
        return attrs


# --- payouts ------------------------------------------------------------------------


class PayoutSerializer(serializers.ModelSerializer[Payout]):
    amount = MinorUnitsField()
    amount_display = AmountDisplayField()
    reversed_amount = MinorUnitsField()
    status = serializers.CharField(read_only=True, help_text=_one_of(Payout.Status.values))
    status_display = ChoiceLabelField("status")
    receipt_url = serializers.SerializerMethodField()

    class Meta:
        model = Payout
        fields = [
            "id",
            "currency",
            "amount",
            "amount_display",
            "status",
            "status_display",
            "automatic",
            "attempts",
            "next_attempt_at",
            "failure_message",
            "reversed_amount",
            "provider_transfer_id",
            "created_at",
            "paid_at",
            "receipt_url",
        ]
        read_only_fields = fields

    def get_receipt_url(self, payout: Payout) -> str:
        return _absolute(self.context, reverse("money_payout_receipt", args=[payout.pk]))


class PayoutRequestSerializer(serializers.Serializer[Any]):
    # Every currency is accepted here (one shared enum in the schema); the service
    # refuses the chain rail's with `unsupported_currency`.
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, help_text=f"A card currency: {', '.join(CARD_CURRENCIES)}."
    )
    amount = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Minor units; omit to pay out the whole available balance.",
    )


class PayoutAccountSerializer(serializers.ModelSerializer[PayoutAccount]):
    status = serializers.CharField(read_only=True, help_text=_one_of(PayoutAccount.Status.values))
    status_display = ChoiceLabelField("status")
    requirements_due = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="What the provider still needs."
    )

    class Meta:
        model = PayoutAccount
        fields = [
            "account_id",
            "status",
            "status_display",
            "payouts_enabled",
            "requirements_due",
            "auto_payout_weekly",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AutoPayoutSerializer(serializers.Serializer[Any]):
    auto_payout_weekly = serializers.BooleanField(
        help_text="Pay out the whole available balance every Monday."
    )


class OnboardingSerializer(serializers.Serializer[Any]):
    onboarding_url = serializers.URLField(
        read_only=True, help_text="Send the freelancer here to finish onboarding."
    )
