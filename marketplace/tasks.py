"""Marketplace periodic tasks: thin wrappers over services (STYLE.md)."""

from celery import shared_task

from marketplace.services.reviews import publish_due_reviews as publish_due_reviews_service


@shared_task(name="marketplace.publish_due_reviews", time_limit=300)
def publish_due_reviews() -> int:
    """Publish blind reviews 14 days after their contract completed; returns how many."""
    return publish_due_reviews_service()
