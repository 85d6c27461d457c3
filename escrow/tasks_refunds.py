"""Card refunds leave through a task: the provider is never called inside the
transaction that booked the refund."""

from celery import shared_task

from escrow.services.refunds import send_card_refund


@shared_task(name="escrow.send_card_refund", time_limit=60, soft_time_limit=45, acks_late=True)
def send_card_refund_task(refund_id: int) -> str:
    """Safe to repeat: the provider call carries the refund's idempotency key."""
    return send_card_refund(refund_id=refund_id).status
