"""The Stripe webhook endpoint: a thin door over ``escrow.services.webhooks``."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from escrow.services.webhooks import process_event, record_event
from smartpay.errors import DomainError


@csrf_exempt  # Stripe signs the body instead; it can't carry our CSRF token.
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = JsonResponse(
            {"code": "method_not_allowed", "detail": "Stripe delivers events by POST."},
            status=405,
        )
        response["Allow"] = "POST"
        return response
    try:
        event = record_event(request.body, request.headers.get("Stripe-Signature", ""))
    except DomainError as error:
        # Nothing was stored: Stripe (or an impostor) gets a 400 and may retry.
        return JsonResponse({"code": error.code, "detail": error.detail}, status=error.status_code)
    # A handler that fails leaves the event stored as "failed" with its error, and the
    # retry task runs it again with backoff; answering 200 stops Stripe from piling
    # redeliveries of an event we already hold on top of our own retries.
    process_event(event.event_id)
    return JsonResponse({"received": True})
