"""Profile reads: the freelancer search, public profiles, and how they are summarised."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import OrderBy

from marketplace.models import Category, PortfolioItem, Profile, Skill, User
from marketplace.money import CURRENCIES, format_amount
from smartpay.errors import DomainError

ORDERINGS: dict[str, str] = {
    "rating": "Best rated",
    "rate": "Lowest rate",
    "-rate": "Highest rate",
    "newest": "Newest",
}
DEFAULT_RATE_CURRENCY = "usd"


@dataclass(frozen=True)
class FreelancerSearch:
    """What the find-freelancers search asks for.

    ``skills`` matches freelancers with ANY of the listed skill slugs. Rates are
    minor units and compare only within ``currency``; a rate bound without a
    currency compares in USD.
    """

    q: str = ""
    skills: list[str] = field(default_factory=list)
    rate_min: int | None = None
    rate_max: int | None = None
    currency: str = ""
    ordering: str = "rating"


def categories() -> QuerySet[Category]:
    return Category.objects.order_by("name")


def skills(category_slug: str = "") -> QuerySet[Skill]:
    """Skills by name, optionally of one category (an unknown category is refused)."""
    queryset = Skill.objects.select_related("category").order_by("name")
    if category_slug:
        if not Category.objects.filter(slug=category_slug).exists():
            raise DomainError(f"Unknown category: {category_slug}.", code="unknown_category")
        queryset = queryset.filter(category__slug=category_slug)
    return queryset


def users_with_profile(*, portfolio: bool = False) -> QuerySet[User]:
    """Users with profile and skills (and portfolio) loaded in a constant number of queries."""
    queryset = User.objects.select_related("profile").prefetch_related(
        Prefetch("profile__skills", queryset=Skill.objects.order_by("name"))
    )
    if portfolio:
        queryset = queryset.prefetch_related(
            Prefetch("profile__portfolio", queryset=PortfolioItem.objects.order_by("-created_at"))
        )
    return queryset


def freelancers(*, portfolio: bool = False) -> QuerySet[User]:
    """Active freelancers: the only users whose profiles are public."""
    return users_with_profile(portfolio=portfolio).filter(is_freelancer=True, is_active=True)


def _check_search(criteria: FreelancerSearch) -> None:
    for name in ("rate_min", "rate_max"):
        value = getattr(criteria, name)
        if value is not None and value < 0:
            raise DomainError(f"{name} must not be negative.", code="invalid_rate_range")
    if (
        criteria.rate_min is not None
        and criteria.rate_max is not None
        and criteria.rate_min > criteria.rate_max
    ):
        raise DomainError("The minimum rate is above the maximum rate.", code="invalid_rate_range")
    if criteria.currency and criteria.currency not in CURRENCIES:
        raise DomainError(
            f"Unknown currency; use one of {', '.join(CURRENCIES)}.", code="invalid_currency"
        )
    if criteria.ordering not in ORDERINGS:
        raise DomainError(f"Order by one of: {', '.join(ORDERINGS)}.", code="invalid_ordering")
    if criteria.skills:
        known = set(Skill.objects.filter(slug__in=criteria.skills).values_list("slug", flat=True))
        unknown = sorted(set(criteria.skills) - known)
        if unknown:
            raise DomainError(f"Unknown skill: {', '.join(unknown)}.", code="unknown_skill")


def search_freelancers(criteria: FreelancerSearch) -> QuerySet[User]:
    """Freelancers matching ``criteria``; every word of ``q`` must match name, headline or bio."""
    _check_search(criteria)
    queryset = freelancers()
    for word in criteria.q.split()[:10]:
        queryset = queryset.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(profile__headline__icontains=word)
            | Q(profile__bio__icontains=word)
        )
    if criteria.skills:
        # A subquery rather than a join keeps one row per freelancer without DISTINCT.
        has_skill = Profile.skills.through.objects.filter(
            profile_id=OuterRef("profile__pk"), skill__slug__in=criteria.skills
        )
        queryset = queryset.filter(Exists(has_skill))
    currency = criteria.currency
    if not currency and (criteria.rate_min is not None or criteria.rate_max is not None):
        currency = DEFAULT_RATE_CURRENCY
    if currency:
        queryset = queryset.filter(profile__currency=currency)
    if criteria.rate_min is not None:
        queryset = queryset.filter(profile__hourly_rate__gte=criteria.rate_min)
    if criteria.rate_max is not None:
        queryset = queryset.filter(profile__hourly_rate__lte=criteria.rate_max)
    return queryset.order_by(*_order(criteria.ordering))


def _order(ordering: str) -> list[str | OrderBy]:
    if ordering == "rate":
        return [F("profile__hourly_rate").asc(nulls_last=True), "pk"]
    if ordering == "-rate":
        return [F("profile__hourly_rate").desc(nulls_last=True), "pk"]
    if ordering == "newest":
        return ["-date_joined", "-pk"]
    return [
        F("profile__rating_average").desc(nulls_last=True),
        F("profile__rating_count").desc(nulls_last=True),
        "pk",
    ]


def profile_of(user: User) -> Profile:
    """The user's profile; a user who never edited one gets the defaults (not saved)."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return Profile(user=user)


def profile_skills(profile: Profile) -> list[Skill]:
    return list(profile.skills.all()) if profile.pk else []


def profile_portfolio(profile: Profile) -> list[PortfolioItem]:
    return list(profile.portfolio.all()) if profile.pk else []


def hourly_rate_display(profile: Profile) -> str:
    if profile.hourly_rate is None:
        return ""
    return f"{format_amount(profile.hourly_rate, profile.currency)} per hour"


def _plain_number(value: Decimal) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def rating_summary(profile: Profile) -> str:
    """The rating in words: "4.5 out of 5 from 12 reviews", or "No reviews yet"."""
    if not profile.rating_count or profile.rating_average is None:
        return "No reviews yet"
    noun = "review" if profile.rating_count == 1 else "reviews"
    average = _plain_number(Decimal(profile.rating_average))
    return f"{average} out of 5 from {profile.rating_count} {noun}"


@dataclass(frozen=True)
class ProfileCard:
    """What a page shows of one user's profile, summarised once."""

    user: User
    profile: Profile
    skills: list[Skill]
    rate: str
    rating_summary: str


def profile_card(user: User) -> ProfileCard:
    """Reads only what ``users_with_profile()`` already loaded: no queries."""
    profile = profile_of(user)
    return ProfileCard(
        user=user,
        profile=profile,
        skills=profile_skills(profile),
        rate=hourly_rate_display(profile),
        rating_summary=rating_summary(profile),
    )
