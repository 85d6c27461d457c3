"""Escrow API: fund, approve, refund, refund requests, dispute, withdraw. Thin views over
escrow.services; on the chain rail they answer with wallet transactions (escrow.api_chain).

Money POSTs honour ``Idempotency-Key`` (the same key and body return the first
response) and pass the key on to the service as its ``request_key``, so a
retried request can't pay twice even when it arrives as a new HTTP request.
Balances, statements and payouts are in ``escrow.api_ledger``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from disputes.api_serializers import (
    DisputeDetailSerializer,
    OpenDisputeBodySerializer,
    OpenDisputeSerializer,
)
from escrow import api_chain, selectors
from escrow.api_chain import (
    ApproveBodySerializer,
    FundBodySerializer,
    FundManyBodySerializer,
    RefundBodySerializer,
    RefundRequestBodySerializer,
    WithdrawSerializer,
)
from escrow.api_serializers import (
    ApproveSerializer,
    FundingSerializer,
    FundManySerializer,
    FundSerializer,
    RefundRequestSerializer,
    RefundRequestWriteSerializer,
    RefundSerializer,
    RefundWriteSerializer,
    ReleaseSerializer,
)
from escrow.models import Funding, RefundRequest
from escrow.services import funding as funding_services
from escrow.services import refunds as refund_services
from escrow.services import release as release_services
from marketplace.api_transactions import (
    WALLET_ERRORS,
    WALLET_EXAMPLE,
    WalletTransactionsSerializer,
)
from marketplace.permissions import IsVerified, acting_user
from marketplace.selectors.contracts import milestones_for
from marketplace.services.contracts import visible_contracts
from smartpay.api.idempotency import HEADER, idempotent

REFUSED = OpenApiExample(
    "Refused",
    value={"code": "invalid_transition", "detail": "..."},
    response_only=True,
    status_codes=["409"],
)
NOT_YOURS = "404 for a milestone that is not yours; `email_unverified` (403)."


def request_key(request: Request) -> str:
    """The client's Idempotency-Key, or a fresh one: without a key every request is new."""
    return request.headers.get(HEADER) or uuid.uuid4().hex


def visible_milestone(request: Request, milestone_id: int) -> None:
    """Someone else's milestone is a 404 before the body is even read."""
    get_object_or_404(milestones_for(acting_user(request)), pk=milestone_id)


class MoneyView(APIView):
    """POSTs move money: a verified e-mail and the "money" throttle. Reads need a login."""

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticated()]
        return [IsVerified()]

    @property
    def throttle_scope(self) -> str | None:
        return "money" if self.request.method == "POST" else None


def _funding_response(request: Request, funding: Funding) -> Response:
    funding = selectors.fundings_for(acting_user(request)).get(pk=funding.pk)
    data = FundingSerializer(funding, context={"request": request}).data
    return Response(data, status=status.HTTP_201_CREATED)


FUNDING_DESCRIPTION = (
    "`source=card` answers with a pending funding: send the client to `checkout_url` "
    "(sandbox) or confirm `client_secret` with Stripe.js; the milestones become funded "
    "when the payment succeeds. `source=balance` funds at once from your available balance. "
    "Errors: `milestone_not_draft`, `contract_not_active`, `wrong_rail`, "
    "`request_key_reused` (409), `insufficient_funds` (409), `payment_refused` (400), "
    "`provider_unavailable` (503, retry with the same key), `permission_denied` (403, the "
    f"freelancer); {NOT_YOURS}"
)


CHAIN_FUNDING = (
    "On the chain rail (200): `createEscrow` while the contract's escrow does not exist "
    "yet, ERC-20 `approve` of the total, then `fund` per milestone; send them in order. "
    "`wallet_required` (409) until both parties linked a wallet. "
)


class MilestoneFundView(MoneyView):
    @extend_schema(
        request=FundBodySerializer,
        responses={201: FundingSerializer, 200: WalletTransactionsSerializer},
        summary="Fund a milestone (client)",
        description=f"{FUNDING_DESCRIPTION} {CHAIN_FUNDING}{WALLET_ERRORS}",
        examples=[
            OpenApiExample("By card", request_only=True, value={"source": "card"}),
            OpenApiExample("From balance", request_only=True, value={"source": "balance"}),
            REFUSED,
            WALLET_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        visible_milestone(request, pk)
        if api_chain.on_chain(pk):
            return api_chain.fund(request, [pk])
        body = FundSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        funding = funding_services.start_funding(
            actor=acting_user(request),
            milestone_ids=[pk],
            request_key=request_key(request),
            source=body.validated_data["source"],
        )
        return _funding_response(request, funding)


class FundingListView(MoneyView, generics.ListAPIView[Funding]):
    serializer_class = FundingSerializer

    def get_queryset(self) -> Any:
        return selectors.fundings_for(acting_user(self.request))

    @extend_schema(summary="List your fundings (payments into escrow)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=FundManyBodySerializer,
        responses={201: FundingSerializer, 200: WalletTransactionsSerializer},
        summary="Fund several milestones of one contract at once (client)",
        description=(
            f"One payment for all of them. {FUNDING_DESCRIPTION} {CHAIN_FUNDING}{WALLET_ERRORS}"
        ),
        examples=[
            OpenApiExample(
                "Two milestones",
                request_only=True,
                value={"milestones": [12, 13], "source": "card"},
            ),
            WALLET_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = FundManySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if api_chain.on_chain(body.validated_data["milestones"][0]):
            return api_chain.fund(request, body.validated_data["milestones"])
        funding = funding_services.start_funding(
            actor=acting_user(request),
            milestone_ids=body.validated_data["milestones"],
            request_key=request_key(request),
            source=body.validated_data["source"],
        )
        return _funding_response(request, funding)


class FundingDetailView(generics.RetrieveAPIView[Funding]):
    serializer_class = FundingSerializer

    def get_queryset(self) -> Any:
        return selectors.fundings_for(acting_user(self.request))

    @extend_schema(summary="Show one of your fundings", description="Poll it while `pending`.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class FundingCancelView(MoneyView):
    @extend_schema(
        request=None,
        responses=FundingSerializer,
        summary="Cancel a card payment that has not gone through (client)",
        description="Errors: `funding_closed` (409, paid already); 404 unless it is yours.",
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(selectors.fundings_for(acting_user(request)), pk=pk)
        funding = funding_services.cancel_funding(actor=acting_user(request), funding_id=pk)
        return Response(FundingSerializer(funding, context={"request": request}).data)


class MilestoneApproveView(MoneyView):
    @extend_schema(
        request=ApproveBodySerializer,
        responses={201: ReleaseSerializer, 200: WalletTransactionsSerializer},
        summary="Approve submitted work and release the money (client)",
        description=(
            "The freelancer's share (minus the platform fee) is pending for the payout hold; "
            "any amount not released returns to your balance. Errors: `invalid_transition` "
            "(409, not submitted), `invalid_release_amount` (400), `escrow_frozen` (409), "
            f"`permission_denied` (403, the freelancer); {NOT_YOURS} On the chain rail: the "
            "`release` transaction (a funded milestone may be released before submission; the "
            "freelancer's share is credited in the escrow contract at once, to withdraw). "
            f"{WALLET_ERRORS}"
        ),
        examples=[
            OpenApiExample("Everything", request_only=True, value={}),
            OpenApiExample("Part of it", request_only=True, value={"amount": 50000}),
            REFUSED,
            WALLET_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        visible_milestone(request, pk)
        if api_chain.on_chain(pk):
            return api_chain.approve(request, pk)
        body = ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = release_services.approve_milestone(
            actor=acting_user(request), milestone_id=pk, amount=body.validated_data.get("amount")
        )
        return Response(ReleaseSerializer(release).data, status=status.HTTP_201_CREATED)


class MilestoneRefundView(MoneyView):
    @extend_schema(
        request=RefundBodySerializer,
        responses={201: RefundSerializer, 200: WalletTransactionsSerializer},
        summary="Refund a funded milestone to the client (freelancer)",
        description=(
            "On your own initiative, or accepting the client's open refund request. "
            "Errors: `invalid_transition` (409, work submitted or not funded), "
            "`invalid_destination` (400, a balance payment goes back to the balance), "
            f"`escrow_frozen` (409), `permission_denied` (403, the client); {NOT_YOURS} "
            "On the chain rail: the `refund` transaction (funded or submitted work; the body "
            f"takes `from` and `chain_id` instead of `destination`). {WALLET_ERRORS}"
        ),
        examples=[OpenApiExample("Default", request_only=True, value={}), REFUSED, WALLET_EXAMPLE],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        visible_milestone(request, pk)
        if api_chain.on_chain(pk):
            return api_chain.refund(request, pk, by_client=False)
        body = RefundWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        refund = refund_services.refund_milestone(
            actor=acting_user(request),
            milestone_id=pk,
            destination=body.validated_data.get("destination"),
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class MilestoneRefundRequestView(MoneyView):
    @extend_schema(
        request=RefundRequestBodySerializer,
        responses={201: RefundRequestSerializer, 200: WalletTransactionsSerializer},
        summary="Ask the freelancer for a refund of a funded milestone (client)",
        description=(
            "The freelancer has `REFUND_RESPONSE_DAYS` to accept or decline; silence accepts. "
            "Errors: `refund_request_open` (409), `invalid_transition` (409), `reason_required` "
            f"(400), `permission_denied` (403, the freelancer); {NOT_YOURS} On the chain rail: "
            "the `requestRefund` transaction; the freelancer consents by refunding. "
            f"{WALLET_ERRORS}"
        ),
        examples=[
            OpenApiExample(
                "Request",
                request_only=True,
                value={"reason": "The project was cancelled.", "destination": "card"},
            ),
            WALLET_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        visible_milestone(request, pk)
        if api_chain.on_chain(pk):
            return api_chain.refund(request, pk, by_client=True)
        body = RefundRequestWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        refund_request = refund_services.request_refund(
            actor=acting_user(request),
            milestone_id=pk,
            reason=body.validated_data["reason"],
            destination=body.validated_data["destination"],
        )
        data = RefundRequestSerializer(refund_request).data
        return Response(data, status=status.HTTP_201_CREATED)


def _visible_refund_request(request: Request, refund_request_id: int) -> None:
    get_object_or_404(
        RefundRequest.objects.filter(
            milestone__contract__in=visible_contracts(acting_user(request))
        ),
        pk=refund_request_id,
    )


class RefundRequestWithdrawView(MoneyView):
    @extend_schema(
        request=None,
        responses=RefundRequestSerializer,
        summary="Withdraw your refund request (client)",
        description="Errors: `refund_request_closed` (409), `permission_denied` (403); 404.",
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        _visible_refund_request(request, pk)
        refund_request = refund_services.withdraw_refund_request(
            actor=acting_user(request), refund_request_id=pk
        )
        return Response(RefundRequestSerializer(refund_request).data)


class RefundRequestDeclineView(MoneyView):
    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                RefundRequestSerializer, description="Declined; the client may open a dispute."
            )
        },
        summary="Decline the client's refund request (freelancer)",
        description="Errors: `refund_request_closed` (409), `permission_denied` (403); 404.",
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        _visible_refund_request(request, pk)
        refund_request = refund_services.decline_refund_request(
            actor=acting_user(request), refund_request_id=pk
        )
        return Response(RefundRequestSerializer(refund_request).data)


# --- dispute and withdraw (chain rail) ---------------------------------------------------


class MilestoneDisputeView(MoneyView):
    @extend_schema(
        request=OpenDisputeBodySerializer,
        responses={201: DisputeDetailSerializer, 200: WalletTransactionsSerializer},
        summary="Dispute a funded or submitted milestone (either party)",
        description=(
            "Card rail (201, the dispute): the milestone becomes disputed at once, which locks "
            "its escrow; the other party has `DISPUTE_RESPONSE_DAYS` to respond. Chain rail "
            "(200): the `dispute` transaction; the money stays locked until the arbiter splits "
            "it. With `reason` and `description` the case is recorded too (see "
            "`/api/v1/disputes/`). Errors: `invalid_reason`, `invalid_amount`, `text_required` "
            "(400), `dispute_open`, `contract_not_active`, `invalid_transition` (409); "
            f"{NOT_YOURS} {WALLET_ERRORS}"
        ),
        examples=[
            OpenApiExample(
                "Card rail",
                request_only=True,
                value={
                    "reason": "quality",
                    "description": "Two chapters are missing.",
                    "amount": 40000,
                },
            ),
            OpenApiExample("Chain rail, transaction only", request_only=True, value={}),
            WALLET_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        # Imported here: disputes builds on escrow (DESIGN.md), not the other way round.
        from disputes import selectors as dispute_selectors
        from disputes.services import open_dispute

        visible_milestone(request, pk)
        on_chain = api_chain.on_chain(pk)
        if on_chain and "reason" not in request.data:
            return api_chain.dispute(request, pk)
        body = OpenDisputeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # On the chain rail the wallet's transaction comes first: its checks refuse
        # before anything is recorded.
        wallet = api_chain.dispute(request, pk) if on_chain else None
        dispute = open_dispute(
            actor=acting_user(request),
            milestone_id=pk,
            reason=body.validated_data["reason"],
            description=body.validated_data["description"],
            amount=body.validated_data.get("amount"),
        )
        if wallet is not None:
            return wallet
        dispute = dispute_selectors.dispute_detail_for(acting_user(request)).get(pk=dispute.pk)
        data = DisputeDetailSerializer(dispute, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class WalletWithdrawView(MoneyView):
    @extend_schema(
        request=WithdrawSerializer,
        responses={200: WalletTransactionsSerializer},
        summary="Withdraw what the escrow contract credited to you (chain rail)",
        description=(
            "Releases, refunds and dispute splits credit your address inside the escrow "
            "contract; `withdraw` pays it out. One transaction per address of yours that "
            "holds a credit. Errors: `nothing_to_withdraw`, `wallet_required`, "
            "`wallet_mismatch` (409), `wrong_chain`, `invalid_address` (400), "
            "`chain_unavailable` (503)."
        ),
        examples=[
            OpenApiExample("Everything in ETH", request_only=True, value={"currency": "eth"}),
            OpenApiExample(
                "USDC to another address",
                request_only=True,
                value={"currency": "usdc", "to": "0x90F79bf6EB2c4f870365E785982E1f101E93b906"},
            ),
            WALLET_EXAMPLE,
            OpenApiExample(
                "Nothing there",
                response_only=True,
                status_codes=["409"],
                value={"code": "nothing_to_withdraw", "detail": "Nothing to withdraw: ..."},
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        return api_chain.withdraw(request)
