"""Chat API: your conversations with unread counts, history by cursor, posting, editing,
read positions and attachments. Thin views over ``notifications.chat``.

A conversation you are not a member of is a 404, before the body is read. Messages
posted here reach the conversation's WebSocket clients too (group ``chat.<id>``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import chat
from notifications.chat_selectors import (
    DEFAULT_HISTORY_LIMIT,
    MAX_HISTORY_LIMIT,
    conversations_for,
    history_page,
)
from notifications.models import Conversation, Message
from smartpay.api.fields import ChoiceLabelField
from smartpay.uploads import private_download

NOT_YOURS = "404 unless you are a member of the conversation."
BODY_ERRORS = (
    f"`empty_message`, `message_too_long` (400, more than {chat.MAX_MESSAGE_CHARS} characters)"
)
TOO_LONG = OpenApiExample(
    "Too long",
    value={
        "code": "message_too_long",
        "detail": f"A message is at most {chat.MAX_MESSAGE_CHARS} characters; this one has 5001.",
    },
    response_only=True,
    status_codes=["400"],
)


def _me(request: Request) -> AbstractBaseUser:
    """The signed-in user (``IsAuthenticated`` ran)."""
    assert isinstance(request.user, AbstractBaseUser)
    return request.user


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    kind_display = ChoiceLabelField("kind")
    unread = serializers.IntegerField(read_only=True)
    last_read_message_id = serializers.IntegerField(read_only=True, allow_null=True)
    last_message_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "kind",
            "kind_display",
            "title",
            "url",
            "subject_type",
            "subject_id",
            "created_at",
            "unread",
            "last_read_message_id",
            "last_message_id",
        ]
        read_only_fields = fields


class AttachmentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.CharField(help_text="Download it here (members only).")


class MessageSerializer(serializers.Serializer[Message]):
    """The same shape the WebSocket sends in its ``message`` frames."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    sender_id = serializers.IntegerField(allow_null=True, help_text="Empty for system messages.")
    sender_name = serializers.CharField()
    body = serializers.CharField()
    attachment = AttachmentSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return chat.message_payload(instance)


class HistorySerializer(serializers.Serializer[Any]):
    results = MessageSerializer(many=True, help_text="Oldest first.")
    next_before = serializers.IntegerField(
        allow_null=True,
        help_text="Pass as `before` for the previous page; empty when there is none.",
    )


class PostMessageSerializer(serializers.Serializer[Any]):
    # Length and blankness are the service's rules, reported with their own codes.
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False)
    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)


class EditMessageSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False)


class MarkReadSerializer(serializers.Serializer[Any]):
    message_id = serializers.IntegerField(min_value=1)


class ReadPositionSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    last_read_message_id = serializers.IntegerField(allow_null=True)
    unread = serializers.IntegerField()


class HistoryQuerySerializer(serializers.Serializer[Any]):
    before = serializers.IntegerField(required=False, min_value=1)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_HISTORY_LIMIT, default=DEFAULT_HISTORY_LIMIT
    )


class ConversationListView(generics.ListAPIView[Conversation]):
    serializer_class = ConversationSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        return conversations_for(_me(self.request))

    @extend_schema(
        summary="List your conversations",
        description=(
            "Proposal, contract and dispute conversations you are a member of, most recently "
            "active first, each with its unread count (messages from others after your read "
            "position)."
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationMessagesView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "before", OpenApiTypes.INT, description="Only messages with a smaller id."
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"At most this many (default {DEFAULT_HISTORY_LIMIT}, "
                f"max {MAX_HISTORY_LIMIT}).",
            ),
        ],
        responses=HistorySerializer,
        summary="Read a conversation's history",
        description=(
            "The newest messages, oldest first; follow `next_before` for older ones. A "
            "client that reconnects catches up by reading until it meets a message it has. "
            + NOT_YOURS
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        chat.membership_of(_me(request), pk)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, next_before = history_page(
            pk, query.validated_data.get("before"), query.validated_data["limit"]
        )
        return Response(
            {
                "results": [chat.message_payload(message) for message in page],
                "next_before": next_before,
            }
        )

    @extend_schema(
        request={
            "multipart/form-data": PostMessageSerializer,
            "application/json": PostMessageSerializer,
        },
        responses={201: MessageSerializer},
        summary="Post a message (members)",
        description=(
            "Optionally with one file (pdf, images, text, csv, zip, docx, xlsx; up to 10 MB). "
            f"Errors: {BODY_ERRORS}, `file_type_not_allowed`, `file_too_large` (400); " + NOT_YOURS
        ),
        examples=[
            OpenApiExample("Text", request_only=True, value={"body": "Draft is up."}),
            TOO_LONG,
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        chat.membership_of(_me(request), pk)
        body = PostMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = chat.post_message(
            _me(request),
            pk,
            body.validated_data.get("body", ""),
            attachment=body.validated_data.get("file"),
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class MessageDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def _visible(self, request: Request, pk: int) -> Message:
        message = Message.objects.select_related("sender").filter(pk=pk).first()
        if message is None or not chat.is_member(_me(request), message.conversation_id):
            raise Http404("No such message.")
        return message

    @extend_schema(
        responses=MessageSerializer,
        summary="Show one message",
        description=NOT_YOURS,
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(MessageSerializer(self._visible(request, pk)).data)

    @extend_schema(
        request=EditMessageSerializer,
        responses=MessageSerializer,
        summary="Edit your message",
        description=(
            "The message is marked edited (`edited_at`) and re-sent to the conversation's "
            f"sockets. Errors: {BODY_ERRORS}, `not_sender` (403); " + NOT_YOURS
        ),
        examples=[
            OpenApiExample("Fix a typo", request_only=True, value={"body": "Draft is up."}),
            TOO_LONG,
        ],
    )
    def patch(self, request: Request, pk: int) -> Response:
        self._visible(request, pk)
        body = EditMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = chat.edit_message(
            _me(request),
            pk,
            body.validated_data.get("body", ""),
        )
        message.refresh_from_db()
        return Response(MessageSerializer(message).data)


class ConversationReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MarkReadSerializer,
        responses=ReadPositionSerializer,
        summary="Mark a conversation read up to a message",
        description=(
            "Your read position only moves forward: an older id changes nothing. Errors: "
            "`message_not_found` (404, not in this conversation); " + NOT_YOURS
        ),
        examples=[OpenApiExample("Read", request_only=True, value={"message_id": 42})],
    )
    def post(self, request: Request, pk: int) -> Response:
        chat.membership_of(_me(request), pk)
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = chat.mark_read(
            _me(request),
            pk,
            body.validated_data["message_id"],
            announce=True,
        )
        return Response(
            {
                "conversation_id": pk,
                "last_read_message_id": membership.last_read_message_id,
                "unread": chat.unread_count(_me(request), pk),
            }
        )


class MessageAttachmentView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment."
            )
        },
        summary="Download a message's attachment",
        description=NOT_YOURS,
    )
    def get(self, request: Request, pk: int) -> FileResponse:
        message = Message.objects.filter(pk=pk).first()
        if (
            message is None
            or not message.attachment
            or not chat.is_member(_me(request), message.conversation_id)
        ):
            raise Http404("No such file.")
        return private_download(
            message.attachment,
            name=message.attachment_name,
            content_type=message.attachment_content_type,
        )
