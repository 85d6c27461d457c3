"""Wallet API: Sign-In with Ethereum and linked wallets. Thin views over marketplace.wallets."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace import wallets
from marketplace.models import Wallet
from marketplace.permissions import acting_user

SIGNATURE_PATTERN = r"^0x([0-9a-fA-F]{2})*$"


class WalletSerializer(serializers.ModelSerializer[Wallet]):
    class Meta:
        model = Wallet
        fields = ["id", "address", "is_primary", "created_at"]
        read_only_fields = fields


class WalletNonceSerializer(serializers.Serializer[Any]):
    address = serializers.CharField(max_length=64, help_text="The wallet's 0x address.")


class WalletNonceIssuedSerializer(serializers.Serializer[Any]):
    nonce = serializers.CharField()
    message = serializers.CharField(help_text="The EIP-4361 text to sign with personal_sign.")
    expires_at = serializers.DateTimeField()
    domain = serializers.CharField()
    chain_id = serializers.IntegerField()


class WalletVerifySerializer(serializers.Serializer[Any]):
    message = serializers.CharField(max_length=4096, trim_whitespace=False)
    # Contract wallets (ERC-1271) may return signatures far longer than 65 bytes.
    signature = serializers.RegexField(SIGNATURE_PATTERN, max_length=16_384)


class WalletSignedInSerializer(serializers.Serializer[Any]):
    user_id = serializers.IntegerField()
    wallet = WalletSerializer()


def _http_request(request: Request) -> HttpRequest:
    """The Django request under DRF's, as services and ``login`` expect it.

    A client authenticated by allauth's ``X-Session-Token`` keeps its login
    records in that token's session, not in the cookie session.
    """
    http_request = request._request
    if isinstance(request.auth, SessionBase):
        http_request.session = request.auth
    return http_request


class WalletNonceView(APIView):
    """Step 1 of Sign-In with Ethereum: get the message to sign."""

    permission_classes = [AllowAny]
    throttle_scope = "auth"
    # JSON only: a cross-site HTML form cannot send it, which keeps the anonymous
    # sign-in endpoints safe from login CSRF without a token.
    parser_classes = [JSONParser]

    @extend_schema(
        request=WalletNonceSerializer,
        responses={200: WalletNonceIssuedSerializer},
        summary="Issue a Sign-In with Ethereum nonce and message",
        description=(
            "Returns the complete EIP-4361 message for `address`. Sign it unchanged "
            "(`personal_sign`) and post it to `/api/v1/wallets/verify/` before `expires_at`."
        ),
    )
    def post(self, request: Request) -> Response:
        body = WalletNonceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        domain = wallets.expected_domain(request._request)
        issued = wallets.issue_nonce(
            address=body.validated_data["address"],
            domain=domain,
            uri=f"{request.scheme}://{domain}/",
        )
        return Response(WalletNonceIssuedSerializer(issued).data)


class WalletVerifyView(APIView):
    """Step 2: a signed message links the wallet (logged in) or logs its owner in."""

    permission_classes = [AllowAny]
    throttle_scope = "auth"
    parser_classes = [JSONParser]

    @extend_schema(
        request=WalletVerifySerializer,
        responses={
            201: OpenApiResponse(WalletSerializer, description="Wallet linked to your account."),
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="WalletVerifyOk",
                    serializers=[WalletSignedInSerializer, WalletSerializer],
                    resource_type_field_name=None,
                ),
                description=(
                    "Anonymous caller: now logged in as the wallet's owner (`user_id`, "
                    "`wallet`). Logged-in caller: the wallet was already yours (the wallet)."
                ),
            ),
        },
        summary="Verify a signed Sign-In with Ethereum message",
        description=(
            "Errors: `siwe_invalid_message`, `siwe_wrong_domain`, `siwe_wrong_chain`, "
            "`siwe_nonce_invalid`, `siwe_expired`, `siwe_not_yet_valid`, "
            "`siwe_bad_signature` (400); `wallet_linked_elsewhere` (409); "
            "`wallet_not_linked` (404)."
        ),
    )
    def post(self, request: Request) -> Response:
        body = WalletVerifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = wallets.verify_sign_in(
            _http_request(request),
            message=body.validated_data["message"],
            signature=body.validated_data["signature"],
        )
        if result.logged_in:
            data = WalletSignedInSerializer(
                {"user_id": result.user.pk, "wallet": result.wallet}
            ).data
            return Response(data)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(WalletSerializer(result.wallet).data, status=code)


class WalletListView(generics.ListAPIView[Wallet]):
    """Your linked wallets, primary first."""

    serializer_class = WalletSerializer

    def get_queryset(self) -> Any:
        return wallets.list_wallets(acting_user(self.request))

    @extend_schema(summary="List your wallets")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class WalletDetailView(APIView):
    """One of your wallets."""

    @extend_schema(responses=WalletSerializer, summary="Show one of your wallets")
    def get(self, request: Request, pk: int) -> Response:
        return Response(WalletSerializer(wallets.get_own_wallet(acting_user(request), pk)).data)

    @extend_schema(
        responses={204: None},
        summary="Unlink one of your wallets",
        description=(
            "Needs a recent login or reauthentication (`reauthentication_required`, 401, "
            "otherwise). Unlinking the primary wallet promotes the oldest remaining one."
        ),
    )
    def delete(self, request: Request, pk: int) -> Response:
        wallets.unlink_wallet(_http_request(request), wallet_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WalletPrimaryView(APIView):
    """Make one of your wallets the primary one."""

    @extend_schema(request=None, responses=WalletSerializer, summary="Make a wallet primary")
    def post(self, request: Request, pk: int) -> Response:
        wallet = wallets.make_primary_wallet(actor=acting_user(request), wallet_id=pk)
        return Response(WalletSerializer(wallet).data)
