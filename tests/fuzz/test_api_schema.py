"""Fuzz every operation of the live OpenAPI schema as a client and as a freelancer.

Each operation gets schema-valid requests (positive) and a few invalid ones
(negative), against real ids of the demo world as well as made-up ones. Every
answer must be a non-5xx, documented status with a documented content type and a
body that matches the schema. No operation is left out: the schema endpoint is not
in the schema, and file downloads are fuzzed like the rest.

Examples are derandomized, so CI sends the same requests on every run; a failure
prints a curl command that reproduces it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from marketplace.api import MeSerializer, MeView
from tests.fuzz.conftest import NESTED_PATH_MODELS, ROLES, Caller, FuzzWorld

pytestmark = pytest.mark.django_db

POSITIVE_EXAMPLES = 10
NEGATIVE_EXAMPLES = 3
# A rail that is down or not set up (no chain node here) answers a documented 503
# with one of these codes: an answer, not a crash.
RAIL_DOWN_CODES = frozenset({"chain_unavailable", "provider_unavailable"})


def not_a_server_error_unless_rail_down(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' ``not_a_server_error``, except a documented 503 from a money rail."""
    if response.status_code == 503 and "503" in case.operation.responses.status_codes:
        body = response.json()
        if isinstance(body, dict) and body.get("code") in RAIL_DOWN_CODES:
            return None
    return not_a_server_error(ctx, response, case)


RESPONSE_CHECKS = [
    not_a_server_error_unless_rail_down,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
AUTH_HEADERS = frozenset({"x-session-token", "x-csrftoken"})
AUTH_COOKIES = frozenset({"sessionid", "csrftoken"})
METHODS = ("get", "put", "patch", "post", "delete")


def schema_operations() -> list[str]:
    """Every operation the schema documents, read from the generator that serves it,
    so the test list follows the API without a list kept by hand."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


OPERATIONS = schema_operations()


def _path_keys(operation: APIOperation) -> dict[str, str]:
    """Path parameter name -> key into ``FuzzWorld.ids``."""
    collection = operation.path.removeprefix("/api/v1/").split("/")[0]
    return {
        parameter.name: parameter.name if parameter.name in NESTED_PATH_MODELS else collection
        for parameter in operation.path_parameters
    }


def case_strategy(operation: APIOperation, world: FuzzWorld, mode: GenerationMode) -> Any:
    """Made-up path ids, and each of the first few real ids of the world."""
    strategies = [operation.as_strategy(generation_mode=mode)]
    keys = _path_keys(operation)
    if keys and all(world.ids.get(key) for key in keys.values()):
        rows = min(len(world.ids[key]) for key in keys.values())
        for index in range(rows):
            real = {name: world.ids[key][index] for name, key in keys.items()}
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    return st.one_of(strategies)


def has_inputs(operation: APIOperation) -> bool:
    """Whether the operation reads anything but the credentials."""
    headers = [header for header in operation.headers if header.name.lower() not in AUTH_HEADERS]
    return any(
        len(part) for part in (operation.path_parameters, operation.query, operation.body)
    ) or bool(headers)


def authenticate(case: Any, caller: Caller) -> None:
    """Send the caller's credentials and nothing else: a made-up value for the other
    scheme's header or cookie would log the caller out."""
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() not in AUTH_HEADERS
    }
    cookies = {
        name: value for name, value in (case.cookies or {}).items() if name not in AUTH_COOKIES
    }
    case.headers = {**headers, **caller.headers}
    case.cookies = {**cookies, **caller.cookies}


def fuzz_operation(
    schema: OpenApiSchema,
    label: str,
    world: FuzzWorld,
    role: str,
    mode: GenerationMode = GenerationMode.POSITIVE,
    max_examples: int = POSITIVE_EXAMPLES,
) -> list[str]:
    """Run one operation's examples as ``role``; return the distinct failures found."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the live schema"
    caller = world.callers[role]
    failures: dict[str, str] = {}

    @settings(
        max_examples=max_examples,
        derandomize=True,  # the same examples on every run: CI stays stable
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=case_strategy(operation, world, mode))
    def run(case: Any) -> None:
        cache.clear()  # throttle counters: a fuzz run is a burst no real caller makes
        authenticate(case, caller)
        try:
            case.call_and_validate(checks=RESPONSE_CHECKS)
        except FailureGroup as group:
            found = sorted(
                f"{failure.title}: {failure.message[:200]}" for failure in group.exceptions
            )
            failures.setdefault("\n".join(found), str(group))

    if mode is GenerationMode.NEGATIVE and not has_inputs(operation):
        return []  # nothing to make invalid
    run()
    return list(failures.values())


@pytest.mark.parametrize("label", OPERATIONS)
@pytest.mark.parametrize("role", list(ROLES))
def test_operation_answers_as_documented(api_schema, fuzz_world, role, label):
    failures = fuzz_operation(api_schema, label, fuzz_world, role)
    failures += fuzz_operation(
        api_schema,
        label,
        fuzz_world,
        role,
        mode=GenerationMode.NEGATIVE,
        max_examples=NEGATIVE_EXAMPLES,
    )
    assert not failures, "\n\n".join(failures)


def test_every_operation_of_the_live_schema_is_fuzzed(api_schema):
    live = {result.ok().label for result in api_schema.get_all_operations()}
    assert live == set(OPERATIONS)


def test_fuzzing_catches_a_response_that_breaks_the_schema(api_schema, fuzz_world, monkeypatch):
    """A serializer that starts sending its id as a string is reported."""
    real = MeSerializer.to_representation

    def id_as_text(self: MeSerializer, instance: Any) -> dict[str, Any]:
        return {**real(self, instance), "id": str(instance.pk)}

    monkeypatch.setattr(MeSerializer, "to_representation", id_as_text)
    failures = fuzz_operation(api_schema, "GET /api/v1/me/", fuzz_world, "client", max_examples=3)
    assert len(failures) == 1
    assert "Response violates schema" in failures[0]
    assert re.search(r'"\d+" is not of type "integer"', failures[0])
    print(failures[0])  # the report as CI shows it (pytest -s)


def test_fuzzing_catches_a_crash(api_schema, fuzz_world, monkeypatch):
    """A view that raises is reported as a server error, for either role."""

    def crash(self: MeView, request: Any) -> Any:
        raise RuntimeError("deliberate crash")

    monkeypatch.setattr(MeView, "get", crash)
    for role in ROLES:
        failures = fuzz_operation(api_schema, "GET /api/v1/me/", fuzz_world, role, max_examples=3)
        assert len(failures) == 1, failures
        assert "Server error" in failures[0]
