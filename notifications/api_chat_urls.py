"""Chat API routes (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from notifications import api_chat

urlpatterns: list[URLPattern | URLResolver] = [
    path("conversations/", api_chat.ConversationListView.as_view(), name="conversation-list"),
    path(
        "conversations/<int:pk>/messages/",
        api_chat.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<int:pk>/read/",
        api_chat.ConversationReadView.as_view(),
        name="conversation-read",
    ),
    path("messages/<int:pk>/", api_chat.MessageDetailView.as_view(), name="message-detail"),
    path(
        "messages/<int:pk>/attachment/",
        api_chat.MessageAttachmentView.as_view(),
        name="message-attachment",
    ),
]
