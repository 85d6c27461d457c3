"""Profile pages: find freelancers, a freelancer's profile, edit your own, review a contract."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.forms_profiles import (
    PORTFOLIO_ERROR_FIELDS,
    PROFILE_ERROR_FIELDS,
    REVIEW_ERROR_FIELDS,
    SEARCH_ERROR_FIELDS,
    FreelancerSearchForm,
    PortfolioItemForm,
    ProfileForm,
    ReviewForm,
    add_domain_error,
)
from marketplace.models import User
from marketplace.money import CURRENCIES
from marketplace.permissions import acting_user
from marketplace.selectors import profiles as profile_selectors
from marketplace.selectors import reviews as review_selectors
from marketplace.services import profiles as profile_services
from marketplace.services import reviews as review_services
from smartpay.errors import DomainError, NotFoundError

RESULTS_PER_PAGE = 20


@require_GET
def freelancer_list(request: HttpRequest) -> HttpResponse:
    """The search page; an htmx request gets only the results fragment."""
    form = FreelancerSearchForm(request.GET or None)
    page = None
    cards: list[profile_selectors.ProfileCard] = []
    if not request.GET or form.is_valid():
        criteria = form.criteria() if request.GET else profile_selectors.FreelancerSearch()
        try:
            results = profile_selectors.search_freelancers(criteria)
        except DomainError as error:
            add_domain_error(form, error, SEARCH_ERROR_FIELDS)
        else:
            page = Paginator(results, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
            cards = [profile_selectors.profile_card(user) for user in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {
        "form": form,
        "page": page,
        "cards": cards,
        "query": query.urlencode(),
    }
    # A history restore (back button) also sends HX-Request but needs the whole page.
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    template = "_freelancer_results.html" if partial else "freelancer_list.html"
    response = render(request, f"marketplace/profiles/{template}", context)
    patch_vary_headers(response, ["HX-Request"])  # one URL, two bodies: caches must tell them apart
    return response


@require_GET
def freelancer_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    freelancer = get_object_or_404(profile_selectors.freelancers(portfolio=True), pk=user_id)
    card = profile_selectors.profile_card(freelancer)
    return render(
        request,
        "marketplace/profiles/freelancer_detail.html",
        {
            "card": card,
            "portfolio": profile_selectors.profile_portfolio(card.profile),
            "reviews": list(review_selectors.published_reviews_of(freelancer)[:50]),
            "is_own": request.user.pk == freelancer.pk,
        },
    )


def _profile_initial(user: User) -> dict[str, Any]:
    profile = profile_selectors.profile_of(user)
    initial: dict[str, Any] = {
        "headline": profile.headline,
        "bio": profile.bio,
        "skills": [skill.slug for skill in profile_selectors.profile_skills(profile)],
        "currency": profile.currency,
        "country": profile.country,
        "timezone": profile.timezone or "UTC",
    }
    if profile.hourly_rate is not None:
        # People type the rate in major units (85.00), the model keeps minor units.
        exponent = CURRENCIES[profile.currency].exponent
        initial["hourly_rate"] = Decimal(int(profile.hourly_rate)).scaleb(-exponent)
    return initial


def _edit_page(
    request: HttpRequest,
    *,
    form: ProfileForm | None = None,
    portfolio_form: PortfolioItemForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = get_object_or_404(
        profile_selectors.users_with_profile(portfolio=True), pk=request.user.pk
    )
    profile = profile_selectors.profile_of(user)
    return render(
        request,
        "marketplace/profiles/profile_edit.html",
        {
            "form": form or ProfileForm(initial=_profile_initial(user)),
            "portfolio_form": portfolio_form or PortfolioItemForm(),
            "profile": profile,
            "portfolio": profile_selectors.profile_portfolio(profile),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _edit_page(request)
    form = ProfileForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            profile_services.update_profile(actor=acting_user(request), **form.changes())
        except DomainError as error:
            add_domain_error(form, error, PROFILE_ERROR_FIELDS)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("profile_edit")
    return _edit_page(request, form=form, status=400)


@login_required
@require_POST
def portfolio_add(request: HttpRequest) -> HttpResponse:
    form = PortfolioItemForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            item = profile_services.add_portfolio_item(
                actor=acting_user(request), **form.cleaned_data
            )
        except DomainError as error:
            add_domain_error(form, error, PORTFOLIO_ERROR_FIELDS)
        else:
            messages.success(request, f"“{item.title}” is in your portfolio.")
            return redirect("profile_edit")
    return _edit_page(request, portfolio_form=form, status=400)


@login_required
@require_POST
def portfolio_remove(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        profile_services.remove_portfolio_item(actor=acting_user(request), item_id=item_id)
    except NotFoundError as error:
        raise Http404(error.detail) from None
    messages.success(request, "The portfolio item is removed.")
    return redirect("profile_edit")


@login_required
@require_http_methods(["GET", "POST"])
def contract_review(request: HttpRequest, contract_id: int) -> HttpResponse:
    """Review the other party of a completed contract; 404 unless you are a party."""
    user = acting_user(request)
    contract = get_object_or_404(review_selectors.contracts_of(user), pk=contract_id)
    form = ReviewForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                review = review_services.leave_review(
                    actor=user,
                    contract_id=contract.pk,
                    rating=form.cleaned_data["rating"],
                    text=form.cleaned_data["text"],
                )
            except DomainError as error:
                add_domain_error(form, error, REVIEW_ERROR_FIELDS)
            else:
                if review.published_at:
                    messages.success(request, "Thank you. Both reviews are now published.")
                else:
                    messages.success(
                        request,
                        "Thank you. Your review is shown once the other party reviews, "
                        f"or {review_services.REVIEW_BLIND_DAYS} days after completion.",
                    )
                return redirect("contract_review", contract_id=contract.pk)
        status = 400
    return render(
        request,
        "marketplace/profiles/contract_review.html",
        {
            "contract": contract,
            "form": form,
            "state": review_selectors.review_state(contract, user),
        },
        status=status,
    )
