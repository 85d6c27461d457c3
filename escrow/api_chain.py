"""The chain rail in the escrow API: request bodies, the response helper and the chain
side of the money endpoints in ``escrow.api``.

On the chain rail the money endpoints answer ``200 {"rail": "chain", "transactions":
[...], "confirmations": N}``: unsigned transactions for the party's own wallet, built by
``escrow.services.chain_actions``. The state changes only when chain sync applies the
contract's events.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from escrow.api_serializers import (
    ApproveSerializer,
    FundSerializer,
    RefundRequestWriteSerializer,
    RefundWriteSerializer,
)
from escrow.chain.transactions import UnsignedTransaction
from escrow.services import chain_actions
from marketplace.api_transactions import WalletOptionsSerializer, wallet_options
from marketplace.models import Milestone
from marketplace.money import CURRENCIES, CURRENCY_CHOICES, Rail
from marketplace.permissions import acting_user
from smartpay.errors import NotAllowed

CHAIN_CURRENCIES = [code for code, spec in CURRENCIES.items() if spec.rail == Rail.CHAIN]


def wallet_response(transactions: list[UnsignedTransaction]) -> Response:
    """The answer of every chain-rail action: what to sign, and how long the wait is."""
    return Response(
        {
            "rail": Rail.CHAIN.value,
            "transactions": transactions,
            "confirmations": int(settings.CHAIN_CONFIRMATIONS),
        }
    )


def on_chain(milestone_id: int) -> bool:
    """Whether the (visible) milestone's contract is paid on the chain rail."""
    rail = Milestone.objects.filter(pk=milestone_id).values_list("contract__rail", flat=True)
    return bool(rail) and rail[0] == Rail.CHAIN


# --- request bodies --------------------------------------------------------------------


class FundBodySerializer(FundSerializer, WalletOptionsSerializer):
    """Card rail: `source`. Chain rail: `from` and `chain_id`, both optional."""


class FundManyBodySerializer(FundBodySerializer):
    milestones = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1)


class ApproveBodySerializer(ApproveSerializer, WalletOptionsSerializer):
    """On the chain rail `amount` is in the token's base units (wei for ETH)."""


class RefundBodySerializer(RefundWriteSerializer, WalletOptionsSerializer):
    """Card rail: `destination`. Chain rail: `from` and `chain_id`."""


class RefundRequestBodySerializer(RefundRequestWriteSerializer, WalletOptionsSerializer):
    """Card rail: `reason` and `destination`. Chain rail: `from` and `chain_id`."""

    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Required on the card rail. The chain carries none: tell the freelancer "
        "why in the contract's messages.",
    )


class WithdrawSerializer(WalletOptionsSerializer):
    """What to withdraw, and where to."""

    # Every currency is accepted here (one shared enum in the schema); the service
    # refuses the card rail's with `wrong_rail`.
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES,
        help_text=f"A chain-rail currency: {', '.join(CHAIN_CURRENCIES)}.",
    )
    to = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=42,
        help_text="Where the money goes; default: each address that holds a credit.",
    )


# --- the chain side of the existing money endpoints -------------------------------------


def fund(request: Request, milestone_ids: list[int]) -> Response:
    body = FundBodySerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return wallet_response(
        chain_actions.prepare_funding(
            actor=acting_user(request),
            milestone_ids=milestone_ids,
            **wallet_options(body.validated_data),
        )
    )


def approve(request: Request, pk: int) -> Response:
    body = ApproveBodySerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return wallet_response(
        chain_actions.prepare_release(
            actor=acting_user(request),
            milestone_id=pk,
            amount=body.validated_data.get("amount"),
            **wallet_options(body.validated_data),
        )
    )


def refund(request: Request, pk: int, *, by_client: bool) -> Response:
    """``refund`` (freelancer) and ``refund-request`` (client) both reach the contract's
    refund path; the party decides which transaction it is."""
    body = WalletOptionsSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    milestone = Milestone.objects.select_related("contract").get(pk=pk)
    is_client = milestone.contract.client_id == acting_user(request).pk
    if is_client != by_client:
        raise NotAllowed(
            "Only the client asks for a refund." if by_client else "Only the freelancer refunds."
        )
    return wallet_response(
        chain_actions.prepare_refund(
            actor=acting_user(request), milestone_id=pk, **wallet_options(body.validated_data)
        )
    )


def dispute(request: Request, pk: int) -> Response:
    body = WalletOptionsSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return wallet_response(
        chain_actions.prepare_dispute(
            actor=acting_user(request), milestone_id=pk, **wallet_options(body.validated_data)
        )
    )


def withdraw(request: Request) -> Response:
    body = WithdrawSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data: dict[str, Any] = body.validated_data
    return wallet_response(
        chain_actions.prepare_withdrawal(
            actor=acting_user(request),
            currency=data["currency"],
            to=data.get("to") or None,
            **wallet_options(data),
        )
    )
