"""``manage.py publish_due_reviews``: publish blind reviews 14 days after completion."""

from typing import Any

from django.core.management.base import BaseCommand

from marketplace.services.reviews import publish_due_reviews


class Command(BaseCommand):
    help = "Publish reviews still blind 14 days after their contract completed."

    def handle(self, *args: Any, **options: Any) -> None:
        published = publish_due_reviews()
        noun = "review" if published == 1 else "reviews"
        self.stdout.write(f"Published {published} {noun}.")
