from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Chat, notifications and e-mail; knows users, not contracts."""

    name = "notifications"
    verbose_name = "Notifications"
