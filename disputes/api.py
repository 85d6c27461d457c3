"""Disputes API: list and read cases, respond, add evidence, offer and accept a split,
escalate, withdraw, an arbiter's decision, a second arbiter's confirmation, an appeal,
and staff's assignment. Thin views over ``disputes.services``.

The parties of the milestone's contract see a case; arbiters see their queue (cases
assigned to them, or waiting and without a conflict); staff see all.
Anyone else gets a 404 before the body is read. Decisions and accepted settlements
move money: those POSTs honour ``Idempotency-Key`` like escrow's.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from disputes import selectors
from disputes import services as dispute_services
from disputes.api_serializers import (
    DisputeDetailSerializer,
    DisputeSerializer,
    EscalateSerializer,
    EvidenceSerializer,
    EvidenceWriteSerializer,
    OfferWriteSerializer,
    RespondSerializer,
    SettlementOfferSerializer,
)
from disputes.models import Dispute, SettlementOffer
from escrow.api import MoneyView
from marketplace.permissions import acting_user
from smartpay.api.idempotency import idempotent
from smartpay.uploads import private_download

NOT_YOURS = "404 unless you are a party to the contract (or an arbiter)."
CLOSED = "`dispute_closed` (409, decided, settled or withdrawn)"
ARBITER_ERRORS = (
    "`party_cannot_resolve` (403, a party to the contract), `not_arbiter` (403, staff "
    "without the arbiter permission), `not_assigned` (403, another arbiter has the case), "
    "`arbiter_conflict` (409, you worked with a party on another contract, or took part in "
    "the decision under appeal)"
)
REFUSED = OpenApiExample(
    "Closed",
    value={"code": "dispute_closed", "detail": "This dispute is resolved by an arbiter."},
    response_only=True,
    status_codes=["409"],
)


def visible_dispute(request: Request, dispute_id: int) -> Dispute:
    """Someone else's dispute is a 404 before the body is even read."""
    return get_object_or_404(selectors.disputes_for(acting_user(request)), pk=dispute_id)


def dispute_response(request: Request, dispute_id: int, code: int = status.HTTP_200_OK) -> Response:
    dispute = selectors.dispute_detail_for(acting_user(request)).get(pk=dispute_id)
    data = DisputeDetailSerializer(dispute, context={"request": request}).data
    return Response(data, status=code)


STATUS_FILTER = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    description=f"Only disputes in this status: {', '.join(Dispute.Status.values)}.",
)


class DisputeListView(generics.ListAPIView[Dispute]):
    serializer_class = DisputeSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        disputes = selectors.disputes_for(acting_user(self.request))
        wanted = self.request.query_params.get("status")
        if wanted:
            disputes = disputes.filter(status=wanted)
        return disputes

    @extend_schema(
        parameters=[STATUS_FILTER],
        summary="List your disputes",
        description="Disputes on your contracts' milestones, newest first; arbiters see all.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DisputeDetailView(generics.RetrieveAPIView[Dispute]):
    serializer_class = DisputeDetailSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        return selectors.dispute_detail_for(acting_user(self.request))

    @extend_schema(
        summary="Show a dispute with its timeline, evidence and offers",
        description=f"Evidence files carry their SHA-256 and a download URL. {NOT_YOURS}",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DisputeRespondView(MoneyView):
    @extend_schema(
        request=RespondSerializer,
        responses=DisputeDetailSerializer,
        summary="Answer a dispute (the other party)",
        description=(
            "Within `DISPUTE_RESPONSE_DAYS` of its opening. Errors: `not_respondent` (403, "
            "you opened it), `invalid_transition` (409, answered already), "
            f"`text_required` (400), {CLOSED}; {NOT_YOURS}"
        ),
        examples=[
            OpenApiExample("Answer", request_only=True, value={"text": "Both chapters are in."}),
            REFUSED,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = RespondSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute_services.respond_to_dispute(
            actor=acting_user(request), dispute_id=pk, text=body.validated_data["text"]
        )
        return dispute_response(request, pk)


class DisputeEvidenceView(MoneyView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": EvidenceWriteSerializer},
        responses={201: EvidenceSerializer(many=True)},
        summary="Add a statement and/or files to a dispute (either party)",
        description=(
            "Each file's SHA-256 is stored. Errors: `evidence_empty`, `too_many_files`, "
            f"`file_too_large`, `file_type_not_allowed`, `too_long` (400), {CLOSED}; {NOT_YOURS}"
        ),
        examples=[
            OpenApiExample(
                "Statement with a file",
                request_only=True,
                value={"text": "The brief we agreed on.", "files": ["(binary)"]},
            ),
            REFUSED,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = EvidenceWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rows = dispute_services.add_evidence(
            actor=acting_user(request),
            dispute_id=pk,
            text=body.validated_data.get("text", ""),
            files=body.validated_data.get("files", []),
        )
        data = EvidenceSerializer(rows, many=True, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class EvidenceFileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment."
            )
        },
        summary="Download an evidence file",
        description=f"Its SHA-256 is in the dispute's `evidence`. {NOT_YOURS}",
    )
    def get(self, request: Request, pk: int, evidence_id: int) -> FileResponse:
        item = selectors.evidence_file_for(acting_user(request), pk, evidence_id)
        if item is None:
            raise Http404("No such file.")
        return private_download(item.file, name=item.name, content_type=item.content_type)


class DisputeOfferView(MoneyView):
    @extend_schema(
        request=OfferWriteSerializer,
        responses={201: SettlementOfferSerializer},
        summary="Offer a settlement split (either party)",
        description=(
            "Counters the other party's open offer and replaces your own. Errors: "
            f"`invalid_share` (400), {CLOSED}; {NOT_YOURS}"
        ),
        examples=[
            OpenApiExample(
                "60 % to the freelancer", request_only=True, value={"freelancer_share_bps": 6000}
            ),
            REFUSED,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = OfferWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        offer = dispute_services.propose_settlement(
            actor=acting_user(request),
            dispute_id=pk,
            freelancer_share_bps=body.validated_data["freelancer_share_bps"],
        )
        return Response(SettlementOfferSerializer(offer).data, status=status.HTTP_201_CREATED)


class OfferAcceptView(MoneyView):
    @extend_schema(
        request=None,
        responses=SettlementOfferSerializer,
        summary="Accept the other party's settlement offer",
        description=(
            "Card rail: the split is paid at once (the fee only on the freelancer's part) and "
            "the dispute is settled. Chain rail: the agreed split waits for an arbiter to send "
            "it to the escrow contract. Errors: `own_offer` (403), `invalid_transition` (409, "
            f"countered or withdrawn), `escrow_frozen` (409), {CLOSED}; {NOT_YOURS}"
        ),
        examples=[REFUSED],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(
            SettlementOffer.objects.filter(
                dispute__in=selectors.disputes_for(acting_user(request))
            ),
            pk=pk,
        )
        offer = dispute_services.accept_settlement(actor=acting_user(request), offer_id=pk)
        offer.refresh_from_db()
        return Response(SettlementOfferSerializer(offer).data)


class DisputeEscalateView(MoneyView):
    @extend_schema(
        request=EscalateSerializer,
        responses=DisputeDetailSerializer,
        summary="Ask for an arbiter (either party)",
        description=f"Errors: `too_long` (400), {CLOSED}; {NOT_YOURS}",
        examples=[OpenApiExample("Escalate", request_only=True, value={}), REFUSED],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = EscalateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute_services.escalate_dispute(
            actor=acting_user(request), dispute_id=pk, note=body.validated_data.get("note", "")
        )
        return dispute_response(request, pk)
