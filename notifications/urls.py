"""Notification centre pages."""

from django.urls import path

from notifications import views, views_chat

urlpatterns = [
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path(
        "notifications/preferences/",
        views.notification_preferences,
        name="notification_preferences",
    ),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
    path(
        "chat/<str:subject_type>/<str:subject_id>/panel/",
        views_chat.chat_panel,
        name="chat_panel",
    ),
]
