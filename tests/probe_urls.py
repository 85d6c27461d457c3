"""A URL map for testing the API plumbing (errors, idempotency, throttles) with
views shaped like the money endpoints later apps add."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import User
from marketplace.permissions import IsVerified
from smartpay.api.idempotency import idempotent
from smartpay.errors import InvalidTransition

COUNTER_KEY = "probe:executions"


def executions() -> int:
    return cache.get(COUNTER_KEY, 0)


class PaymentSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    currency = serializers.ChoiceField(choices=["usd", "eur"])
    slow = serializers.FloatField(required=False, default=0)
    crash = serializers.BooleanField(required=False, default=False)


class PaymentView(APIView):
    """Counts each real execution, so tests can prove a replay did nothing."""

    throttle_scope = "money"

    @idempotent
    def post(self, request: Request) -> Response:
        data = PaymentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["slow"]:
            time.sleep(data.validated_data["slow"])
        cache.add(COUNTER_KEY, 0)
        run = cache.incr(COUNTER_KEY)
        if data.validated_data["crash"]:
            raise RuntimeError("simulated crash after the side effect")
        return Response({"run": run, "amount": data.validated_data["amount"]}, status=201)


class PersonView(APIView):
    """Only your own row is visible: anyone else's id is a 404."""

    def get(self, request: Request, pk: int) -> Response:
        person = get_object_or_404(User, pk=pk, pk__in=[request.user.pk])
        return Response({"id": person.pk})


class VerifiedOnlyView(APIView):
    permission_classes = [IsVerified]

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


class TransitionView(APIView):
    def post(self, request: Request) -> Response:
        raise InvalidTransition("A released milestone cannot be funded.")


probe = [
    path("payments/", PaymentView.as_view()),
    path("people/<int:pk>/", PersonView.as_view()),
    path("transition/", TransitionView.as_view()),
    path("verified-only/", VerifiedOnlyView.as_view()),
]

urlpatterns = [
    path("api/v1/probe/", include(probe)),
    path("", include("smartpay.urls")),
]

handler404 = "smartpay.views.not_found"
handler500 = "smartpay.views.server_error"
