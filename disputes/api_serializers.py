"""Disputes API serializers: the case with its timeline, evidence and offers; request bodies."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from disputes.models import BPS, Dispute, DisputeEvent, Evidence, SettlementOffer
from disputes.services.common import MAX_TEXT_CHARS
from escrow.api_serializers import MinorUnitsField
from marketplace.api_transactions import WalletOptionsSerializer
from marketplace.services import milestones as milestone_services
from smartpay.api.fields import ChoiceLabelField
from smartpay.uploads import ALLOWED_FILES


class DisputeEventSerializer(serializers.ModelSerializer[DisputeEvent]):
    class Meta:
        model = DisputeEvent
        fields = ["id", "kind", "actor", "text", "created_at"]
        read_only_fields = fields


class EvidenceSerializer(serializers.ModelSerializer[Evidence]):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "submitted_by",
            "text",
            "name",
            "size",
            "content_type",
            "sha256",
            "download_url",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_download_url(self, item: Evidence) -> str | None:
        if not item.file:
            return None
        path = reverse("dispute-evidence-file", args=[item.dispute_id, item.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SettlementOfferSerializer(serializers.ModelSerializer[SettlementOffer]):
    status = serializers.CharField(
        read_only=True, help_text=f"One of: {', '.join(SettlementOffer.Status.values)}."
    )

    class Meta:
        model = SettlementOffer
        fields = [
            "id",
            "dispute",
            "proposed_by",
            "freelancer_share_bps",
            "status",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


@extend_schema_field(serializers.CharField(allow_null=True))
class UserNameField(serializers.Field):
    """A user's display name (arbiters are shown by name, never by e-mail)."""

    def __init__(self, source: str, **kwargs: Any) -> None:
        super().__init__(source=source, read_only=True, allow_null=True, **kwargs)

    def to_representation(self, user: Any) -> str | None:
        return user.display_name if user is not None else None


class DisputeSerializer(serializers.ModelSerializer[Dispute]):
    contract = serializers.IntegerField(source="milestone.contract_id", read_only=True)
    amount_in_dispute = MinorUnitsField()
    currency = serializers.CharField(source="milestone.contract.currency", read_only=True)
    status = serializers.CharField(
        read_only=True, help_text=f"One of: {', '.join(Dispute.Status.values)}."
    )
    status_label = ChoiceLabelField("status")
    reason_label = ChoiceLabelField("reason")
    arbiter_name = UserNameField("arbiter")
    decided_by_name = UserNameField("decided_by")
    second_arbiter_name = UserNameField("second_arbiter")

    class Meta:
        model = Dispute
        fields = [
            "id",
            "milestone",
            "contract",
            "opened_by",
            "reason",
            "reason_label",
            "description",
            "amount_in_dispute",
            "currency",
            "status",
            "status_label",
            "response_due_at",
            "freelancer_share_bps",
            "rationale",
            "arbiter",
            "arbiter_name",
            "assigned_at",
            "decision_due_at",
            "decided_by",
            "decided_by_name",
            "decided_at",
            "second_arbiter",
            "second_arbiter_name",
            "appeal_due_at",
            "is_appeal",
            "appealed_by",
            "appealed_at",
            "appeal_reason",
            "resolved_by",
            "resolved_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DisputeDetailSerializer(DisputeSerializer):
    events = DisputeEventSerializer(many=True, read_only=True)
    evidence = EvidenceSerializer(many=True, read_only=True)
    offers = SettlementOfferSerializer(many=True, read_only=True)

    class Meta(DisputeSerializer.Meta):
        fields = [*DisputeSerializer.Meta.fields, "events", "evidence", "offers"]
        read_only_fields = fields


# --- request bodies ---------------------------------------------------------------------------


class OpenDisputeSerializer(serializers.Serializer[Any]):
    reason = serializers.ChoiceField(choices=Dispute.Reason.choices)
    description = serializers.CharField(max_length=MAX_TEXT_CHARS)
    amount = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Minor units in dispute; the whole milestone when left out.",
    )


class OpenDisputeBodySerializer(OpenDisputeSerializer, WalletOptionsSerializer):
    """Opening a dispute; on the chain rail ``from`` and ``chain_id`` may be added, and
    ``reason`` and ``description`` may be left out to get the transaction only."""


class RespondSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=MAX_TEXT_CHARS)


class EvidenceWriteSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=MAX_TEXT_CHARS, required=False, allow_blank=True)
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        help_text=(
            f"Up to {milestone_services.MAX_FILES} files of at most 25 MB each: "
            f"{', '.join(sorted(ALLOWED_FILES))}."
        ),
    )


class OfferWriteSerializer(serializers.Serializer[Any]):
    freelancer_share_bps = serializers.IntegerField(
        min_value=0, max_value=BPS, help_text="The freelancer's share in basis points (0-10000)."
    )


class EscalateSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=MAX_TEXT_CHARS, required=False, allow_blank=True)


class ResolveSerializer(OfferWriteSerializer):
    rationale = serializers.CharField(max_length=MAX_TEXT_CHARS)


class ConfirmSerializer(serializers.Serializer[Any]):
    agree = serializers.BooleanField(help_text="true confirms the decision; false sends it back.")
    note = serializers.CharField(
        max_length=MAX_TEXT_CHARS,
        required=False,
        allow_blank=True,
        help_text="Why you disagree (required when agree is false).",
    )


class AppealSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=MAX_TEXT_CHARS)


class AssignSerializer(serializers.Serializer[Any]):
    arbiter = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The arbiter's user id; left out or null: the least loaded arbiter.",
    )
