"""Disputes API: the arbiters' side (decide, confirm, assign) and the parties' answers
to a decision (appeal) or to their own case (withdraw)."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
)
from rest_framework.request import Request
from rest_framework.response import Response

from disputes import services as dispute_services
from disputes.api import (
    ARBITER_ERRORS,
    CLOSED,
    NOT_YOURS,
    REFUSED,
    dispute_response,
    visible_dispute,
)
from disputes.api_serializers import (
    AppealSerializer,
    AssignSerializer,
    ConfirmSerializer,
    DisputeDetailSerializer,
    ResolveSerializer,
)
from escrow.api import MoneyView
from marketplace.permissions import acting_user
from smartpay.api.idempotency import idempotent


class DisputeResolveView(MoneyView):
    @extend_schema(
        request=ResolveSerializer,
        responses=DisputeDetailSerializer,
        summary="Decide a dispute (arbiter)",
        description=(
            "The case's arbiter decides (an unconflicted arbiter takes an unassigned case). "
            "Above `DISPUTE_SECOND_ARBITER_ABOVE` the status becomes `confirming` until a "
            "second arbiter confirms. Otherwise, in the first round, the status becomes "
            "`decided`: both parties may appeal until `appeal_due_at`, after which the "
            "decision is carried out. In the appeal round (`is_appeal`) it is carried out at "
            "once: card rail, the freelancer's share of the escrow (minus the platform fee) "
            "and the rest back to the client; chain rail, the `resolve` transaction is queued "
            f"and the status is `resolving` until chain sync reads it. Errors: {ARBITER_ERRORS}, "
            f"`invalid_share`, `rationale_required` (400), `escrow_frozen` (409), {CLOSED}; "
            "404 for anyone else."
        ),
        examples=[
            OpenApiExample(
                "70 % to the freelancer",
                request_only=True,
                value={"freelancer_share_bps": 7000, "rationale": "Most of the work was done."},
            ),
            OpenApiExample(
                "A party",
                response_only=True,
                status_codes=["403"],
                value={"code": "party_cannot_resolve", "detail": "A party to the contract ..."},
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute_services.resolve_dispute(
            actor=acting_user(request),
            dispute_id=pk,
            freelancer_share_bps=body.validated_data["freelancer_share_bps"],
            rationale=body.validated_data["rationale"],
        )
        return dispute_response(request, pk)


class DisputeConfirmView(MoneyView):
    @extend_schema(
        request=ConfirmSerializer,
        responses=DisputeDetailSerializer,
        summary="Confirm or refuse a decision as the second arbiter",
        description=(
            "For a `confirming` case: another arbiter agrees (the decision stands: open to "
            "appeal, or carried out at once in the appeal round) or disagrees with a `note` "
            "(the case goes back to its arbiter, `escalated`, decision cleared). Errors: "
            f"{ARBITER_ERRORS}, `own_decision` (403, you decided it), `text_required` (400), "
            "`invalid_transition` (409, not waiting for a second arbiter); 404 for anyone else."
        ),
        examples=[
            OpenApiExample("Agree", request_only=True, value={"agree": True}),
            OpenApiExample(
                "Disagree",
                request_only=True,
                value={"agree": False, "note": "The second delivery was never reviewed."},
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = ConfirmSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute_services.confirm_decision(
            actor=acting_user(request),
            dispute_id=pk,
            agree=body.validated_data["agree"],
            note=body.validated_data.get("note", ""),
        )
        return dispute_response(request, pk)


class DisputeAppealView(MoneyView):
    @extend_schema(
        request=AppealSerializer,
        responses=DisputeDetailSerializer,
        summary="Appeal a decision (either party, once)",
        description=(
            "A `decided` case, before `appeal_due_at`: another arbiter (nobody who decided or "
            "confirmed it) takes the case, `is_appeal` is true and their decision is final. "
            "Errors: `text_required` (400), `appeal_used` (409, appealed already), "
            "`appeal_too_late` (409), `invalid_transition` (409, not open to appeal); "
            f"{NOT_YOURS}"
        ),
        examples=[
            OpenApiExample(
                "Appeal", request_only=True, value={"reason": "The arbiter ignored the call log."}
            ),
            OpenApiExample(
                "Twice",
                response_only=True,
                status_codes=["409"],
                value={"code": "appeal_used", "detail": "This dispute was appealed already; ..."},
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = AppealSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute_services.appeal_decision(
            actor=acting_user(request), dispute_id=pk, reason=body.validated_data["reason"]
        )
        return dispute_response(request, pk)


class DisputeWithdrawView(MoneyView):
    @extend_schema(
        request=None,
        responses=DisputeDetailSerializer,
        summary="Withdraw a dispute (the party who opened it)",
        description=(
            "Before any decision. The milestone returns to funded or submitted. Errors: "
            "`not_opener` (403), `already_decided` (409), `disputed_on_chain` (409, the "
            f"escrow contract holds the dispute: an arbiter ends it), {CLOSED}; {NOT_YOURS}"
        ),
        examples=[REFUSED],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        dispute_services.withdraw_dispute(actor=acting_user(request), dispute_id=pk)
        return dispute_response(request, pk)


class DisputeAssignView(MoneyView):
    @extend_schema(
        request=AssignSerializer,
        responses=DisputeDetailSerializer,
        summary="Assign an arbiter (staff who manage disputes)",
        description=(
            "An `escalated` case goes to `arbiter`, or without one to the least loaded "
            "arbiter without a conflict; the decision deadline (`decision_due_at`) restarts. "
            "Errors: `staff_only` (403), `not_an_arbiter` (400), `arbiter_conflict` (409), "
            "`no_arbiter_available` (409), `invalid_transition` (409, not escalated); 404 "
            "for anyone who cannot see the case."
        ),
        examples=[
            OpenApiExample("Round-robin", request_only=True, value={}),
            OpenApiExample("This arbiter", request_only=True, value={"arbiter": 42}),
            OpenApiExample(
                "Conflict",
                response_only=True,
                status_codes=["409"],
                value={"code": "arbiter_conflict", "detail": "... has worked with ..."},
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        visible_dispute(request, pk)
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute_services.assign_arbiter(
            actor=acting_user(request), dispute_id=pk, arbiter_id=body.validated_data.get("arbiter")
        )
        return dispute_response(request, pk)
