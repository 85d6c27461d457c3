"""Pieces shared by escrow's admin pages: money rows are read-only, and state changes
only through actions that call a service, whose refusal becomes a message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.http import HttpRequest

from escrow.rails import RailError
from marketplace.models import User
from marketplace.money import format_amount
from smartpay.admin_readonly import ReadOnlyAdmin as PlatformReadOnlyAdmin
from smartpay.errors import DomainError

log = logging.getLogger(__name__)
T = TypeVar("T")
# An action acts on at most this many rows at once; each is a provider call or a lock.
MAX_ROWS_PER_ACTION = 50


class ReadOnlyAdmin(PlatformReadOnlyAdmin):
    """Money rows are never added, changed or deleted by hand: corrections are new
    transfers, made by services."""


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def money(amount: int | Decimal | None, currency: str) -> str:
    return "—" if amount is None else format_amount(int(amount), currency)


def run_service(request: HttpRequest, what: str, call: Callable[[], T]) -> T | None:
    """Call one service for an admin action; a refusal or a failure becomes an error
    message on the page (never a 500), and None is returned."""
    try:
        return call()
    except DomainError as error:
        messages.error(request, f"{what}: {error.detail}")
    except RailError as error:
        messages.error(request, f"{what}: the card provider said “{error.message}”.")
    except Exception as error:  # an operator gets a message; the trace goes to the log
        log.exception("admin action failed: %s", what)
        messages.error(request, f"{what} failed unexpectedly ({type(error).__name__}); see logs.")
    return None


def staff_member(request: HttpRequest) -> User:
    """Who pressed the button: the admin site admits only logged-in staff."""
    user = request.user
    assert isinstance(user, User)
    return user


def too_many(request: HttpRequest, count: int) -> bool:
    if count > MAX_ROWS_PER_ACTION:
        messages.warning(
            request, f"Select at most {MAX_ROWS_PER_ACTION} rows for this action ({count} chosen)."
        )
        return True
    return False
