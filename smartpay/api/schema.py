"""OpenAPI descriptions drf-spectacular can't infer: the session-token scheme and the
error responses every operation shares."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """allauth's headless session token, sent as ``X-Session-Token``."""

    target_class = (
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication"
    )
    name = "sessionToken"
    priority = 1  # over allauth's own description of the same class

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-Session-Token"}


class ErrorSerializer(serializers.Serializer):
    """The body of every API error: `code` for programs, `detail` for people."""

    code = serializers.CharField(help_text="Stable, machine-readable reason.")
    detail = serializers.CharField(help_text="The reason, for people.")
    # DRF's metaclass moves declared fields aside, so this doesn't shadow ``.fields``.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Per-field messages, on validation errors only."
    )


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR_DESCRIPTIONS = {
    "400": "The input breaks a rule (`fields` names the invalid ones).",
    "401": "Not logged in: send `X-Session-Token` or the session cookie.",
    "403": "Logged in, but not allowed to do this (role, ownership, CSRF).",
    "404": "No such object, or not visible to this user (or a page past the last).",
    "409": "Not possible in the object's current state, or an `Idempotency-Key` reused.",
    "415": "The body's `Content-Type` is not one this operation reads, or is malformed.",
    "429": "Too many requests: retry after `Retry-After` seconds.",
    "503": (
        "The money rail (card provider or chain node) is not answering or not set up; "
        "nothing moved. Retry with the same `Idempotency-Key`."
    ),
}


def error_statuses(operation: dict[str, Any], method: str) -> list[str]:
    """The error statuses an operation can answer, from what it accepts: the one
    exception handler answers every error the same way."""
    parameters = operation.get("parameters", [])
    places = {parameter["in"] for parameter in parameters}
    names = {parameter["name"] for parameter in parameters}
    security = operation.get("security") or []
    statuses = ["429"]  # throttles apply to every view
    if method in WRITE_METHODS or places & {"query", "header"}:
        statuses.append("400")
    if any(scheme for scheme in security):
        statuses += ["401", "403"]
    if method in WRITE_METHODS or "path" in places or "page" in names:
        statuses.append("404")  # bodies name objects too; a page past the last
    if method in WRITE_METHODS:
        statuses.append("409")
    if "requestBody" in operation:
        statuses.append("415")
    if "Idempotency-Key" in names:
        statuses.append("503")  # money moves through a rail that may be down
    return sorted(statuses)


class ErrorResponsesSchema(AutoSchema):
    """Adds the documented ``{"code", "detail"}`` error responses to each operation,
    unless the view documents that status itself. It is ``DEFAULT_SCHEMA_CLASS``, so
    every view (and every ``@extend_schema`` override, which subclasses the default)
    gets them without a line of its own."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for status in error_statuses(operation, self.method):
            responses.setdefault(
                status,
                {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": error}},
                },
            )
        return operation
