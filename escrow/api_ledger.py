"""Escrow API: balances, the statement (JSON pages or CSV), payouts and the payout
account. Thin views over escrow.selectors and escrow.services.payouts."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from escrow import selectors
from escrow.api import MoneyView, request_key
from escrow.api_serializers import (
    AutoPayoutSerializer,
    BalanceSerializer,
    OnboardingSerializer,
    PayoutAccountSerializer,
    PayoutRequestSerializer,
    PayoutSerializer,
    StatementFilterSerializer,
    StatementLineSerializer,
)
from escrow.models import Payout
from escrow.services import payout_accounts
from escrow.services import payouts as payout_services
from escrow.statements import USER_KINDS
from escrow.statements_csv import csv_response
from escrow.views import onboarding_urls
from marketplace.money import CURRENCIES
from marketplace.permissions import acting_user
from smartpay.api.idempotency import idempotent
from smartpay.api.schema import ErrorSerializer
from smartpay.errors import NotFoundError


class CSVRenderer(BaseRenderer):
    """``?format=csv`` or ``Accept: text/csv``. The statement streams itself; only
    errors are rendered here, as a two-column CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if isinstance(data, dict):
            writer.writerow(["code", "detail"])
            writer.writerow([data.get("code", ""), data.get("detail", "")])
        return buffer.getvalue().encode()


class BalancesView(APIView):
    @extend_schema(
        responses=BalanceSerializer(many=True),
        summary="Your balances per currency",
        description="Available (yours to pay out or spend), pending (released to you, on "
        "hold until the payout hold ends), in escrow as a client and in escrow for your work.",
    )
    def get(self, request: Request) -> Response:
        return Response(BalanceSerializer(selectors.balances(acting_user(request)), many=True).data)


class TransactionsView(generics.ListAPIView[Any]):
    serializer_class = StatementLineSerializer
    renderer_classes = [JSONRenderer, CSVRenderer]

    def filters(self) -> dict[str, Any]:
        body = StatementFilterSerializer(data=self.request.query_params)
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)

    def get_queryset(self) -> Any:
        return selectors.transactions(acting_user(self.request), **self.filters())

    @extend_schema(
        summary="Your statement: every movement of your money, newest first",
        description=(
            "One line per transfer touching your available or pending account, in words, "
            "signed from your side, with the account's balance after it. `?format=csv` (or "
            "`Accept: text/csv`) downloads every matching line as CSV, unpaginated."
        ),
        parameters=[
            OpenApiParameter("currency", enum=list(CURRENCIES), required=False),
            OpenApiParameter("kind", enum=list(USER_KINDS), required=False),
            OpenApiParameter("since", OpenApiTypes.DATE, required=False),
            OpenApiParameter("until", OpenApiTypes.DATE, required=False),
            OpenApiParameter("format", enum=["json", "csv"], required=False),
        ],
        responses={
            (200, "application/json"): StatementLineSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.accepted_renderer.format == "csv":
            return csv_response(self.get_queryset())
        return super().get(request, *args, **kwargs)


class PayoutListView(MoneyView, generics.ListAPIView[Payout]):
    serializer_class = PayoutSerializer

    def get_queryset(self) -> Any:
        return selectors.payouts_for(acting_user(self.request))

    @extend_schema(summary="Your payouts, newest first, with their status and failures")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=PayoutRequestSerializer,
        responses={201: PayoutSerializer},
        summary="Pay out your available balance (freelancer)",
        description=(
            "Takes the amount off your available balance at once and sends it to your "
            "connected account; failures are retried with backoff, and a payout that fails "
            "for good returns to your balance. Errors: `payouts_not_enabled` (409, finish "
            "onboarding), `below_minimum` (400), `insufficient_funds` (409), "
            "`request_key_reused` (409), `email_unverified` (403)."
        ),
        examples=[
            OpenApiExample("Everything", request_only=True, value={"currency": "usd"}),
            OpenApiExample("Part", request_only=True, value={"currency": "usd", "amount": 5000}),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = PayoutRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        payout = payout_services.request_payout(
            actor=acting_user(request),
            currency=body.validated_data["currency"],
            amount=body.validated_data.get("amount"),
            request_key=request_key(request),
        )
        data = PayoutSerializer(payout, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class PayoutDetailView(generics.RetrieveAPIView[Payout]):
    serializer_class = PayoutSerializer

    def get_queryset(self) -> Any:
        return selectors.payouts_for(acting_user(self.request))

    @extend_schema(summary="Show one of your payouts")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PayoutAccountView(MoneyView):
    @extend_schema(
        responses={
            200: PayoutAccountSerializer,
            404: OpenApiResponse(ErrorSerializer, description="`no_payout_account`"),
        },
        summary="Your payout account (connected account) and its onboarding status",
        description="404 `no_payout_account` until you start onboarding with a POST.",
    )
    def get(self, request: Request) -> Response:
        account = selectors.payout_account_for(acting_user(request))
        if account is None:
            raise NotFoundError(
                "No payout account yet: POST here to start onboarding.", code="no_payout_account"
            )
        return Response(PayoutAccountSerializer(account).data)

    @extend_schema(
        request=None,
        responses={
            200: OnboardingSerializer,
            503: OpenApiResponse(ErrorSerializer, description="`provider_unavailable`"),
        },
        summary="Start or finish onboarding (freelancer)",
        description="Creates your connected account once and answers with a fresh onboarding "
        "link. Errors: `not_freelancer`, `email_unverified` (403), `provider_unavailable` (503).",
    )
    def post(self, request: Request) -> Response:
        url = payout_accounts.connect_payout_account(
            actor=acting_user(request), **onboarding_urls()
        )
        return Response(OnboardingSerializer({"onboarding_url": url}).data)

    @extend_schema(
        request=AutoPayoutSerializer,
        responses=PayoutAccountSerializer,
        summary="Turn the weekly automatic payout on or off",
        description="Errors: `no_payout_account` (409).",
        examples=[OpenApiExample("On", request_only=True, value={"auto_payout_weekly": True})],
    )
    def patch(self, request: Request) -> Response:
        body = AutoPayoutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = payout_accounts.set_auto_payout(
            actor=acting_user(request), enabled=body.validated_data["auto_payout_weekly"]
        )
        return Response(PayoutAccountSerializer(account).data)
