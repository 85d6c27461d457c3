"""Notifications API: the centre (list, mark one read, mark all read) and the
preferences matrix. Thin views over ``notifications.services`` and ``.preferences``.

Everything here is the caller's own: another user's notification is a 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import preferences, selectors, services
from notifications.models import Notification


def _user_id(request: Request) -> int:
    assert request.user.is_authenticated  # IsAuthenticated ran
    return int(request.user.pk)


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "verb", "title", "url", "created_at", "read"]
        read_only_fields = fields

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


UNREAD_FILTER = OpenApiParameter(
    "unread", OpenApiTypes.BOOL, description="`1` for unread notifications only."
)
READ_RESPONSE = inline_serializer(
    "NotificationRead",
    {"notification": NotificationSerializer(), "unread": serializers.IntegerField()},
)


class NotificationListView(generics.ListAPIView[Notification]):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        unread_only = self.request.query_params.get("unread") in {"1", "true", "yes"}
        return selectors.notifications_for(_user_id(self.request), unread_only=unread_only)

    @extend_schema(
        parameters=[UNREAD_FILTER],
        summary="List your notifications",
        description="Newest first, paginated (`page`, `page_size`). The body also carries "
        "`unread`: how many of your notifications are unread in all.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response.data["unread"] = selectors.unread_count(_user_id(request))
        return response


class NotificationReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses=READ_RESPONSE,
        summary="Mark one notification read",
        description="Marking a read one again changes nothing. 404 unless it is yours.",
    )
    def post(self, request: Request, pk: int) -> Response:
        user_id = _user_id(request)
        notification = services.mark_read(user_id=user_id, notification_id=pk)
        return Response(
            {
                "notification": NotificationSerializer(notification).data,
                "unread": selectors.unread_count(user_id),
            }
        )


class NotificationReadAllView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "NotificationsReadAll",
            {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()},
        ),
        summary="Mark all your notifications read",
    )
    def post(self, request: Request) -> Response:
        marked = services.mark_all_read(user_id=_user_id(request))
        return Response({"marked": marked, "unread": 0})


MATRIX_EXAMPLE = OpenApiExample(
    "Preferences",
    value={"preferences": {"milestone_funded": {"in_app": True, "email": False}}},
)


class PreferencesSerializer(serializers.Serializer[Any]):
    preferences = serializers.DictField(
        child=serializers.DictField(child=serializers.BooleanField()),
        help_text="{verb: {in_app: true|false, email: true|false}}",
    )
    labels = serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text="{verb: what it means}"
    )


class NotificationPreferencesView(APIView):
    permission_classes = [IsAuthenticated]

    def _answer(self, user_id: int) -> Response:
        return Response(
            {"preferences": preferences.as_dict(user_id), "labels": preferences.listed_verbs()}
        )

    @extend_schema(
        responses=PreferencesSerializer,
        examples=[MATRIX_EXAMPLE],
        summary="Your notification preferences",
        description="Every kind of notification by channel. E-mail is false (and cannot be "
        "switched on) for kinds that have no e-mail.",
    )
    def get(self, request: Request) -> Response:
        return self._answer(_user_id(request))

    @extend_schema(
        request=PreferencesSerializer,
        responses=PreferencesSerializer,
        examples=[MATRIX_EXAMPLE],
        summary="Change your notification preferences",
        description="Kinds and channels left out keep their value. "
        "`unknown_preference` (400) for a kind or channel that does not exist.",
    )
    def put(self, request: Request) -> Response:
        body = PreferencesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user_id = _user_id(request)
        choices: dict[str, dict[str, bool]] = body.validated_data["preferences"]
        preferences.set_preferences(user_id=user_id, choices=choices)
        return self._answer(user_id)
