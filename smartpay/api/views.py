"""Project-level API endpoints."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PingView(APIView):
    """The cheapest DRF endpoint: the baseline every benchmark compares with."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        responses=inline_serializer("Ping", {"pong": serializers.BooleanField()}),
        summary="Bare DRF endpoint (benchmark baseline)",
    )
    def get(self, request: Request) -> Response:
        return Response({"pong": True})
