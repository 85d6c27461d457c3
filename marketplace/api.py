"""Marketplace API: thin views over services and selectors."""

from __future__ import annotations

from allauth.mfa.utils import is_mfa_enabled
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import User
from marketplace.permissions import acting_user, has_verified_email
from marketplace.wallet_api import WalletSerializer


class MeSerializer(serializers.ModelSerializer[User]):
    display_name = serializers.CharField(read_only=True)
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)
    is_arbiter = serializers.BooleanField(read_only=True)
    wallets = WalletSerializer(many=True, read_only=True)
    email_verified = serializers.SerializerMethodField()
    mfa_enabled = serializers.SerializerMethodField()

    def get_email_verified(self, user: User) -> bool:
        return has_verified_email(user)

    def get_mfa_enabled(self, user: User) -> bool:
        return is_mfa_enabled(user)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "display_name",
            "is_client",
            "is_freelancer",
            "is_staff",
            "is_arbiter",
            "roles",
            "email_verified",
            "mfa_enabled",
            "wallets",
            "date_joined",
        ]
        read_only_fields = fields


class MeView(APIView):
    """Who am I: the logged-in user and their roles."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer, summary="The current user")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(acting_user(request)).data)
