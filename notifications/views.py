"""Notification centre pages: the list (mark one read, mark all read) and the
preferences matrix. Thin views over ``notifications.services`` and ``.preferences``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications import preferences, selectors, services
from smartpay.errors import DomainError, NotFoundError

PAGE_SIZE = 20


def _user_id(request: HttpRequest) -> int:
    assert request.user.is_authenticated  # login_required ran
    return int(request.user.pk)


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Where the form asked to go next, if it is on this site."""
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(wanted if wanted and safe else fallback)


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    user_id = _user_id(request)
    unread_only = request.GET.get("unread") == "1"
    rows = selectors.notifications_for(user_id, unread_only=unread_only)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "unread_only": unread_only,
        "unread": selectors.unread_count(user_id),
    }
    return render(request, "notifications/list.html", context)


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.mark_read(user_id=_user_id(request), notification_id=pk)
    except NotFoundError as missing:  # someone else's, or none: the same answer
        raise Http404(missing.detail) from missing
    return _back(request, reverse("notification_list"))


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    marked = services.mark_all_read(user_id=_user_id(request))
    if marked:
        messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read.")
    else:
        messages.info(request, "Nothing was unread.")
    return redirect("notification_list")


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    user_id = _user_id(request)
    if request.method == "POST":
        # Every listed cell is on the form: an unticked box is a choice to turn it off.
        choices: dict[str, dict[str, bool]] = {}
        for row in preferences.matrix(user_id):
            for cell in row:
                if cell.available:
                    ticked = f"{cell.verb}:{cell.channel}" in request.POST
                    choices.setdefault(cell.verb, {})[cell.channel] = ticked
        try:
            preferences.set_preferences(user_id=user_id, choices=choices)
        except DomainError as refused:
            messages.error(request, refused.detail)
        else:
            messages.success(request, "Your notification preferences are saved.")
            return redirect("notification_preferences")
    context = {"rows": preferences.matrix(user_id)}
    return render(request, "notifications/preferences.html", context)
