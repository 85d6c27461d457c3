"""Contracts API: offers, contracts, milestones, submissions. Thin views over
marketplace.services.contracts / .milestones and marketplace.selectors.contracts."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api_transactions import (
    WALLET_ERRORS,
    WALLET_EXAMPLE,
    WalletOptionsSerializer,
    WalletTransactionsSerializer,
    wallet_options,
)
from marketplace.models import Contract, Milestone, Proposal, Submission, SubmissionFile, User
from marketplace.money import Rail, format_amount
from marketplace.permissions import IsVerified, acting_user
from marketplace.selectors import contracts as selectors
from marketplace.services import contracts as contract_services
from marketplace.services import milestones as milestone_services
from smartpay.api.fields import ChoiceLabelField
from smartpay.uploads import ALLOWED_FILES

ERROR_EXAMPLE = OpenApiExample(
    "Refused",
    value={"code": "invalid_transition", "detail": "..."},
    response_only=True,
    status_codes=["409"],
)


class PartySerializer(serializers.Serializer[User]):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="display_name", read_only=True)


class MilestoneSerializer(serializers.ModelSerializer[Milestone]):
    amount = serializers.IntegerField(read_only=True, help_text="Minor units of `currency`.")
    amount_display = serializers.SerializerMethodField()
    currency = serializers.CharField(source="contract.currency", read_only=True)
    # Plain strings: several models name a choice field "status", which would make
    # drf-spectacular invent enum component names.
    status = serializers.CharField(
        read_only=True, help_text=f"One of: {', '.join(Milestone.Status.values)}."
    )
    status_display = ChoiceLabelField("status")

    class Meta:
        model = Milestone
        fields = [
            "id",
            "contract",
            "position",
            "title",
            "amount",
            "amount_display",
            "currency",
            "due_date",
            "status",
            "status_display",
            "submitted_at",
            "review_deadline",
        ]
        read_only_fields = fields

    def get_amount_display(self, milestone: Milestone) -> str:
        return format_amount(milestone.amount, milestone.contract.currency)


class ContractSerializer(serializers.ModelSerializer[Contract]):
    client = PartySerializer(read_only=True)
    freelancer = PartySerializer(read_only=True)
    status = serializers.CharField(
        read_only=True, help_text=f"One of: {', '.join(Contract.Status.values)}."
    )
    status_display = ChoiceLabelField("status")
    rail_display = ChoiceLabelField("rail")
    total = serializers.SerializerMethodField(help_text="Sum of the milestones, minor units.")
    total_display = serializers.SerializerMethodField()
    milestones = MilestoneSerializer(many=True, read_only=True)

    class Meta:
        model = Contract
        fields = [
            "id",
            "job",
            "proposal",
            "title",
            "client",
            "freelancer",
            "status",
            "status_display",
            "currency",
            "rail",
            "rail_display",
            "fee_bps",
            "total",
            "total_display",
            "created_at",
            "accepted_at",
            "completed_at",
            "milestones",
        ]
        read_only_fields = fields

    def get_total(self, contract: Contract) -> int:
        return int(sum(m.amount for m in contract.milestones.all()))

    def get_total_display(self, contract: Contract) -> str:
        return format_amount(self.get_total(contract), contract.currency)


class MilestoneWriteSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=200)
    amount = serializers.IntegerField(
        min_value=1, help_text="Minor units of the contract's currency (cents, wei...)."
    )
    due_date = serializers.DateField(required=False, allow_null=True)


class SubmissionFileSerializer(serializers.ModelSerializer[SubmissionFile]):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = SubmissionFile
        fields = ["id", "name", "size", "content_type", "sha256", "download_url"]
        read_only_fields = fields

    def get_download_url(self, item: SubmissionFile) -> str:
        path = reverse("contract_file_download", args=[item.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SubmissionSerializer(serializers.ModelSerializer[Submission]):
    files = SubmissionFileSerializer(many=True, read_only=True)

    class Meta:
        model = Submission
        fields = ["id", "milestone", "number", "message", "submitted_by", "created_at", "files"]
        read_only_fields = fields


class SubmitSerializer(serializers.Serializer[Any]):
    message = serializers.CharField(max_length=milestone_services.MAX_MESSAGE_CHARS)
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        help_text=(
            f"Up to {milestone_services.MAX_FILES} files of at most 25 MB each: "
            f"{', '.join(sorted(ALLOWED_FILES))}."
        ),
    )


class RevisionSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=milestone_services.MAX_MESSAGE_CHARS)


class ChainSubmitSerializer(SubmitSerializer, WalletOptionsSerializer):
    """A delivery; on the chain rail `from` and `chain_id` may be added."""


class ChainRevisionSerializer(WalletOptionsSerializer):
    """Why the work goes back; on the chain rail `from` and `chain_id` may be added."""

    reason = serializers.CharField(
        max_length=milestone_services.MAX_MESSAGE_CHARS,
        required=False,
        allow_blank=True,
        help_text="Required on the card rail. On the chain rail it is optional and kept for "
        "the freelancer to read.",
    )


def _rail_of(milestone_id: int) -> str:
    return str(
        Milestone.objects.filter(pk=milestone_id).values_list("contract__rail", flat=True)[0]
    )


class OfferSerializer(serializers.Serializer[Any]):
    rail = serializers.ChoiceField(
        choices=Rail.choices,
        required=False,
        allow_null=True,
        help_text="Defaults to the rail of the proposal's currency; another one is a 400.",
    )


# --- contracts ------------------------------------------------------------------------


class ContractListView(generics.ListAPIView[Contract]):
    """Contracts and offers where you are the client or the freelancer."""

    serializer_class = ContractSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        status_filter, role = params.get("status"), params.get("role")
        if status_filter and status_filter not in Contract.Status.values:
            raise serializers.ValidationError({"status": f"One of {Contract.Status.values}."})
        if role and role not in selectors.ROLES:
            raise serializers.ValidationError({"role": "client or freelancer."})
        return selectors.contracts_for(acting_user(self.request), status=status_filter, role=role)

    @extend_schema(
        summary="List your contracts and offers",
        parameters=[
            OpenApiParameter("status", enum=Contract.Status.values, required=False),
            OpenApiParameter("role", enum=list(selectors.ROLES), required=False),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ContractDetailView(generics.RetrieveAPIView[Contract]):
    serializer_class = ContractSerializer

    def get_queryset(self) -> Any:
        return selectors.contracts_for(acting_user(self.request))

    @extend_schema(summary="Show a contract or offer with its milestones")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _check_visible_milestone(request: Request, milestone_id: int) -> None:
    """Someone else's milestone is a 404 before the body is even read."""
    get_object_or_404(selectors.milestones_for(acting_user(request)), pk=milestone_id)


def _contract_response(request: Request, contract_id: int) -> Response:
    contract = get_object_or_404(selectors.contracts_for(acting_user(request)), pk=contract_id)
    return Response(ContractSerializer(contract, context={"request": request}).data)


class _OfferActionView(APIView):
    def post(self, request: Request, pk: int) -> Response:
        self.act(actor=acting_user(request), contract_id=pk)
        return _contract_response(request, pk)

    def act(self, *, actor: User, contract_id: int) -> Contract:
        raise NotImplementedError


OFFER_ERRORS = (
    "Errors: `permission_denied` (403, the other party), `offer_not_pending` (409), "
    "404 for a contract that is not yours."
)


class ContractAcceptView(_OfferActionView):
    permission_classes = [IsVerified]

    @extend_schema(
        request=None,
        responses=ContractSerializer,
        summary="Accept an offer (freelancer)",
        description=f"The contract becomes active and the job awarded. {OFFER_ERRORS}",
        examples=[ERROR_EXAMPLE],
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, *, actor: User, contract_id: int) -> Contract:
        return contract_services.accept_offer(actor=actor, contract_id=contract_id)


class ContractDeclineView(_OfferActionView):
    @extend_schema(
        request=None,
        responses=ContractSerializer,
        summary="Decline an offer (freelancer)",
        description=f"The proposal is declined; the job stays open. {OFFER_ERRORS}",
        examples=[ERROR_EXAMPLE],
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, *, actor: User, contract_id: int) -> Contract:
        return contract_services.decline_offer(actor=actor, contract_id=contract_id)


class ContractWithdrawView(_OfferActionView):
    @extend_schema(
        request=None,
        responses=ContractSerializer,
        summary="Withdraw an offer (client)",
        description=f"Only while the freelancer has not answered. {OFFER_ERRORS}",
        examples=[ERROR_EXAMPLE],
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def act(self, *, actor: User, contract_id: int) -> Contract:
        return contract_services.withdraw_offer(actor=actor, contract_id=contract_id)


class ProposalAcceptView(APIView):
    """Accepting a proposal sends the freelancer an offer (a contract in status offered)."""

    permission_classes = [IsVerified]

    @extend_schema(
        request=OfferSerializer,
        responses={201: ContractSerializer},
        summary="Accept a proposal: send an offer",
        description=(
            "Snapshots the proposal's milestones, currency, rail and the platform fee. Errors: "
            "`proposal_decided`, `job_not_open`, `offer_outstanding` (409), "
            "`rail_currency_mismatch` (400), `email_unverified` (403); 404 unless you own the job."
        ),
        examples=[
            OpenApiExample("Default rail", value={}, request_only=True),
            OpenApiExample("Explicit rail", value={"rail": "card"}, request_only=True),
            OpenApiExample(
                "Offer outstanding",
                response_only=True,
                status_codes=["409"],
                value={"code": "offer_outstanding", "detail": "An offer on this job is ..."},
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        # Only the job's owner sees its proposals: 404 before the body is read.
        get_object_or_404(Proposal.objects.filter(job__client=acting_user(request)), pk=pk)
        body = OfferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contract = contract_services.offer_contract(
            actor=acting_user(request), proposal_id=pk, rail=body.validated_data.get("rail")
        )
        response = _contract_response(request, contract.pk)
        response.status_code = status.HTTP_201_CREATED
        return response


# --- milestones ------------------------------------------------------------------------


class ContractMilestonesView(generics.ListAPIView[Milestone]):
    """A contract's milestones; the client adds unfunded ones while it is active."""

    serializer_class = MilestoneSerializer

    def get_queryset(self) -> Any:
        contract = get_object_or_404(
            contract_services.visible_contracts(acting_user(self.request)), pk=self.kwargs["pk"]
        )
        return selectors.milestones_for(acting_user(self.request)).filter(contract=contract)

    @extend_schema(summary="List a contract's milestones")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=MilestoneWriteSerializer,
        responses={201: MilestoneSerializer},
        summary="Add an unfunded milestone (client)",
        description=(
            "The freelancer is told. Errors: `permission_denied` (403, freelancer), "
            "`contract_not_active` (409), `amount_not_positive` / `invalid` (400)."
        ),
        examples=[
            OpenApiExample(
                "Add",
                request_only=True,
                value={"title": "Extra report", "amount": 50000, "due_date": "2026-12-24"},
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(contract_services.visible_contracts(acting_user(request)), pk=pk)
        body = MilestoneWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        milestone = milestone_services.add_milestone(
            actor=acting_user(request), contract_id=pk, **body.validated_data
        )
        return Response(MilestoneSerializer(milestone).data, status=status.HTTP_201_CREATED)


class MilestoneDetailView(APIView):
    @extend_schema(responses=MilestoneSerializer, summary="Show a milestone")
    def get(self, request: Request, pk: int) -> Response:
        milestone = get_object_or_404(selectors.milestones_for(acting_user(request)), pk=pk)
        return Response(MilestoneSerializer(milestone).data)

    @extend_schema(
        request=MilestoneWriteSerializer(partial=True),
        responses=MilestoneSerializer,
        summary="Edit an unfunded milestone (client)",
        description="Errors: `milestone_not_draft`, `contract_not_active` (409), 403, 404.",
        examples=[OpenApiExample("New amount", request_only=True, value={"amount": 120000})],
    )
    def patch(self, request: Request, pk: int) -> Response:
        _check_visible_milestone(request, pk)
        body = MilestoneWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        milestone = milestone_services.update_milestone(
            actor=acting_user(request), milestone_id=pk, **body.validated_data
        )
        return Response(MilestoneSerializer(milestone).data)

    @extend_schema(
        responses={204: None},
        summary="Remove an unfunded milestone (client)",
        description="Later milestones move up. Errors: `milestone_not_draft`, "
        "`last_milestone` (409), 403, 404.",
    )
    def delete(self, request: Request, pk: int) -> Response:
        milestone_services.remove_milestone(actor=acting_user(request), milestone_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MilestoneSubmitView(APIView):
    # JSON too, for a delivery with a message and no files.
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": ChainSubmitSerializer},
        responses={201: SubmissionSerializer, 200: WalletTransactionsSerializer},
        summary="Submit work on a funded milestone (freelancer)",
        description=(
            "Each file's SHA-256 is stored. The client's review window starts. Errors: "
            "`invalid_transition` (409, not funded), `too_many_files`, `file_too_large`, "
            "`file_type_not_allowed`, `message_required` (400), 403 for the client, 404. "
            "On the chain rail the submission is stored with `digest`, the SHA-256 of its "
            "manifest, which the `submit` transaction anchors on chain. "
            f"{WALLET_ERRORS}"
        ),
        examples=[
            OpenApiExample(
                "Delivery",
                request_only=True,
                value={"message": "First draft attached.", "files": ["(binary)"]},
            ),
            OpenApiExample(
                "Not funded",
                response_only=True,
                status_codes=["409"],
                value={"code": "invalid_transition", "detail": "A milestone that is ..."},
            ),
            WALLET_EXAMPLE,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        _check_visible_milestone(request, pk)
        if _rail_of(pk) == Rail.CHAIN:
            return self.chain(request, pk)
        body = SubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        submission = milestone_services.submit_milestone(
            actor=acting_user(request),
            milestone_id=pk,
            message=body.validated_data["message"],
            files=body.validated_data.get("files", []),
        )
        submission = selectors.submissions_for(acting_user(request), pk).get(pk=submission.pk)
        data = SubmissionSerializer(submission, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)

    def chain(self, request: Request, pk: int) -> Response:
        # Imported here: marketplace does not depend on escrow (DESIGN.md); the chain
        # rail's transactions are escrow's to build.
        from escrow.api_chain import wallet_response
        from escrow.services.chain_actions import prepare_submission

        body = ChainSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return wallet_response(
            prepare_submission(
                actor=acting_user(request),
                milestone_id=pk,
                message=body.validated_data["message"],
                files=body.validated_data.get("files", []),
                **wallet_options(body.validated_data),
            )
        )


class MilestoneRevisionView(APIView):
    @extend_schema(
        request=ChainRevisionSerializer,
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="RevisionResult",
                    serializers=[MilestoneSerializer, WalletTransactionsSerializer],
                    resource_type_field_name=None,
                ),
                description="Card rail: the milestone, funded again. Chain rail: the "
                "`requestRevision` transaction for your wallet.",
            )
        },
        summary="Request a revision of submitted work (client)",
        description="Errors: `invalid_transition` (409, nothing submitted), `reason_required` "
        f"(400), 403 for the freelancer, 404. {WALLET_ERRORS}",
        examples=[
            OpenApiExample(
                "Revision", request_only=True, value={"reason": "The totals row is missing."}
            ),
            WALLET_EXAMPLE,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        _check_visible_milestone(request, pk)
        if _rail_of(pk) == Rail.CHAIN:
            return self.chain(request, pk)
        body = RevisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        revision = milestone_services.request_revision(
            actor=acting_user(request), milestone_id=pk, reason=body.validated_data["reason"]
        )
        milestone = selectors.milestones_for(acting_user(request)).get(pk=revision.milestone_id)
        return Response(MilestoneSerializer(milestone).data)

    def chain(self, request: Request, pk: int) -> Response:
        # Imported here: marketplace does not depend on escrow (DESIGN.md).
        from escrow.api_chain import wallet_response
        from escrow.services.chain_actions import prepare_revision_request

        body = ChainRevisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return wallet_response(
            prepare_revision_request(
                actor=acting_user(request),
                milestone_id=pk,
                reason=body.validated_data.get("reason") or "",
                **wallet_options(body.validated_data),
            )
        )


class MilestoneSubmissionsView(generics.ListAPIView[Submission]):
    serializer_class = SubmissionSerializer

    def get_queryset(self) -> Any:
        get_object_or_404(selectors.milestones_for(acting_user(self.request)), pk=self.kwargs["pk"])
        return selectors.submissions_for(acting_user(self.request), self.kwargs["pk"])

    @extend_schema(
        summary="List a milestone's submissions with their files",
        responses=SubmissionSerializer(many=True),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
