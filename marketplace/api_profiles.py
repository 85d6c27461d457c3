"""Catalogue, profile and review API: thin views over profile and review services."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import Category, PortfolioItem, Review, Skill, User
from marketplace.permissions import acting_user
from marketplace.selectors import profiles as profile_selectors
from marketplace.selectors import reviews as review_selectors
from marketplace.services import profiles as profile_services
from marketplace.services import reviews as review_services

# --- serializers ----------------------------------------------------------------


class CategorySerializer(serializers.ModelSerializer[Category]):
    class Meta:
        model = Category
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class SkillSerializer(serializers.ModelSerializer[Skill]):
    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    category_name = serializers.CharField(source="category.name", read_only=True)

    class Meta:
        model = Skill
        fields = ["id", "name", "slug", "category", "category_name"]
        read_only_fields = fields


class SkillBriefSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)


class PortfolioItemSerializer(serializers.ModelSerializer[PortfolioItem]):
    # A URL or "" (no link): documented as a plain string, since "" is not a URI.
    link = serializers.CharField(read_only=True)
    file_url = serializers.SerializerMethodField()

    class Meta:
        model = PortfolioItem
        fields = ["id", "title", "description", "link", "file_url", "created_at"]
        read_only_fields = fields

    def get_file_url(self, item: PortfolioItem) -> str | None:
        return item.file.url if item.file else None


def _profile_data(user: User, *, portfolio: bool) -> dict[str, Any]:
    profile = profile_selectors.profile_of(user)
    data: dict[str, Any] = {
        "user_id": user.pk,
        "display_name": user.display_name,
        "is_freelancer": user.is_freelancer,
        "headline": profile.headline,
        "bio": profile.bio,
        "skills": profile_selectors.profile_skills(profile),
        "hourly_rate": profile.hourly_rate,
        "currency": profile.currency,
        "hourly_rate_display": profile_selectors.hourly_rate_display(profile),
        "country": profile.country,
        "timezone": profile.timezone,
        "avatar_url": profile.avatar.url if profile.avatar else None,
        "rating_average": profile.rating_average,
        "rating_count": profile.rating_count,
        "rating_summary": profile_selectors.rating_summary(profile),
        "completed_contracts": profile.completed_contracts,
    }
    if portfolio:
        data["portfolio"] = profile_selectors.profile_portfolio(profile)
    return data


class ProfileSerializer(serializers.Serializer[User]):
    """A user's public profile; built from the user so profile-less users show defaults."""

    user_id = serializers.IntegerField(read_only=True)
    display_name = serializers.CharField(read_only=True)
    is_freelancer = serializers.BooleanField(read_only=True)
    headline = serializers.CharField(read_only=True)
    bio = serializers.CharField(read_only=True)
    skills = SkillBriefSerializer(many=True, read_only=True)
    hourly_rate = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Minor units of `currency` per hour."
    )
    currency = serializers.CharField(read_only=True)
    hourly_rate_display = serializers.CharField(
        read_only=True, help_text='e.g. "$85.00 per hour"; empty when no rate is set.'
    )
    country = serializers.CharField(read_only=True, help_text="ISO 3166-1 alpha-2, or empty.")
    timezone = serializers.CharField(read_only=True, help_text="IANA time zone name.")
    avatar_url = serializers.CharField(read_only=True, allow_null=True)
    rating_average = serializers.DecimalField(
        max_digits=3, decimal_places=2, read_only=True, allow_null=True, coerce_to_string=False
    )
    rating_count = serializers.IntegerField(read_only=True)
    rating_summary = serializers.CharField(
        read_only=True, help_text='e.g. "4.5 out of 5 from 12 reviews".'
    )
    completed_contracts = serializers.IntegerField(read_only=True)

    def to_representation(self, instance: User) -> dict[str, Any]:
        return super().to_representation(_profile_data(instance, portfolio=False))  # type: ignore[arg-type]


class ProfileDetailSerializer(ProfileSerializer):
    portfolio = PortfolioItemSerializer(many=True, read_only=True)

    def to_representation(self, instance: User) -> dict[str, Any]:
        data = _profile_data(instance, portfolio=True)
        return super(ProfileSerializer, self).to_representation(data)  # type: ignore[arg-type]


class ProfileQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Words in name, headline or bio.",
    )
    skills = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Comma-separated skill slugs; a freelancer with ANY of them matches.",
    )
    rate_min = serializers.IntegerField(
        required=False, help_text="Lowest hourly rate, minor units of `currency`."
    )
    rate_max = serializers.IntegerField(
        required=False, help_text="Highest hourly rate, minor units of `currency`."
    )
    currency = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Only profiles whose rate is in this currency; rate bounds alone imply usd.",
    )
    ordering = serializers.ChoiceField(
        choices=list(profile_selectors.ORDERINGS.items()), required=False, default="rating"
    )

    def criteria(self) -> profile_selectors.FreelancerSearch:
        data = self.validated_data
        slugs = [s.strip() for s in data.get("skills", "").split(",") if s.strip()]
        return profile_selectors.FreelancerSearch(
            q=data.get("q", ""),
            skills=slugs,
            rate_min=data.get("rate_min"),
            rate_max=data.get("rate_max"),
            currency=data.get("currency", "").strip().lower(),
            ordering=data["ordering"],
        )


class ProfileUpdateSerializer(serializers.Serializer[Any]):
    """Fields left out stay as they are. Rules (rate > 0, time zone...) live in the service."""

    headline = serializers.CharField(required=False, allow_blank=True)
    bio = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    skills = serializers.ListField(
        child=serializers.SlugField(), required=False, help_text="Skill slugs; replaces the set."
    )
    hourly_rate = serializers.IntegerField(
        required=False, allow_null=True, help_text="Minor units per hour, above zero; null clears."
    )
    currency = serializers.CharField(required=False)
    country = serializers.CharField(
        required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2, e.g. DE."
    )
    timezone = serializers.CharField(required=False, help_text="IANA name, e.g. Europe/Berlin.")
    avatar = serializers.FileField(
        required=False,
        allow_null=True,
        help_text="PNG, JPEG, GIF or WebP up to 5 MB (multipart); null removes it.",
    )


class PortfolioItemCreateSerializer(serializers.Serializer[Any]):
    title = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    link = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField(
        required=False,
        allow_null=True,
        help_text="PDF, image, text, Markdown, ZIP or DOCX up to 25 MB (multipart).",
    )


class ReviewSerializer(serializers.ModelSerializer[Review]):
    contract_title = serializers.CharField(source="contract.title", read_only=True)
    author_name = serializers.CharField(source="author.display_name", read_only=True)
    subject_name = serializers.CharField(source="subject.display_name", read_only=True)
    published = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [
            "id",
            "contract",
            "contract_title",
            "author",
            "author_name",
            "subject",
            "subject_name",
            "rating",
            "text",
            "created_at",
            "published",
            "published_at",
        ]
        read_only_fields = fields

    def get_published(self, review: Review) -> bool:
        return review.published_at is not None


class ReviewQuerySerializer(serializers.Serializer[Any]):
    subject = serializers.IntegerField(required=False, help_text="Reviews of this user id.")


class ReviewCreateSerializer(serializers.Serializer[Any]):
    contract = serializers.IntegerField(help_text="Id of a completed contract you are party to.")
    rating = serializers.IntegerField(help_text="1 (poor) to 5 (excellent).")
    text = serializers.CharField(required=False, allow_blank=True, default="")


# --- views ------------------------------------------------------------------------


class CategoryListView(generics.ListAPIView[Category]):
    """The catalogue's categories."""

    permission_classes = [AllowAny]
    serializer_class = CategorySerializer

    def get_queryset(self) -> Any:
        return profile_selectors.categories()

    @extend_schema(summary="List categories", auth=[])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class SkillListView(generics.ListAPIView[Skill]):
    """The catalogue's skills, optionally of one category."""

    permission_classes = [AllowAny]
    serializer_class = SkillSerializer

    def get_queryset(self) -> Any:
        return profile_selectors.skills(self.request.query_params.get("category", "").strip())

    @extend_schema(
        summary="List skills",
        auth=[],
        parameters=[
            OpenApiParameter(
                "category",
                OpenApiTypes.STR,
                description="A category slug; `unknown_category` (400) if there is none.",
            )
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ProfileListView(generics.ListAPIView[User]):
    """Search freelancers' public profiles."""

    permission_classes = [AllowAny]
    serializer_class = ProfileSerializer

    def get_queryset(self) -> Any:
        query = ProfileQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return profile_selectors.search_freelancers(query.criteria())

    @extend_schema(
        summary="Search freelancers",
        auth=[],
        parameters=[ProfileQuerySerializer],
        description=(
            "Only users who are freelancers are listed. `skills` matches ANY of the slugs. "
            "Errors: `unknown_skill`, `invalid_rate_range`, `invalid_currency`, `invalid` (400)."
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ProfileDetailView(APIView):
    """One freelancer's public profile with portfolio."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses=ProfileDetailSerializer,
        summary="Show a freelancer's profile",
        auth=[],
        description="404 for users who are not freelancers.",
    )
    def get(self, request: Request, user_id: int) -> Response:
        user = get_object_or_404(profile_selectors.freelancers(portfolio=True), pk=user_id)
        return Response(ProfileDetailSerializer(user).data)


PROFILE_PATCH_EXAMPLE = OpenApiExample(
    "Set headline, skills and rate",
    request_only=True,
    value={
        "headline": "Django and Solidity developer",
        "skills": ["python", "django"],
        "hourly_rate": 8500,
        "currency": "usd",
        "country": "DE",
        "timezone": "Europe/Berlin",
    },
)


class ProfileMeView(APIView):
    """Your own profile, whether or not you work as a freelancer."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def _render(self, request: Request) -> Response:
        user = get_object_or_404(
            profile_selectors.users_with_profile(portfolio=True), pk=acting_user(request).pk
        )
        return Response(ProfileDetailSerializer(user).data)

    @extend_schema(responses=ProfileDetailSerializer, summary="Show your profile")
    def get(self, request: Request) -> Response:
        return self._render(request)

    @extend_schema(
        request={
            "application/json": ProfileUpdateSerializer,
            "multipart/form-data": ProfileUpdateSerializer,
        },
        responses=ProfileDetailSerializer,
        summary="Edit your profile",
        description=(
            "Send an avatar as multipart. Errors (400): `invalid_hourly_rate`, "
            "`invalid_currency`, `invalid_country`, `invalid_timezone`, `unknown_skill`, "
            "`too_many_skills`, `invalid_headline`, `invalid_bio`, "
            "`avatar_type_not_allowed`, `avatar_too_large`, `invalid`."
        ),
        examples=[PROFILE_PATCH_EXAMPLE],
    )
    def patch(self, request: Request) -> Response:
        body = ProfileUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        profile_services.update_profile(actor=acting_user(request), **body.validated_data)
        return self._render(request)


class PortfolioCreateView(APIView):
    """Add a piece of work to your portfolio."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": PortfolioItemCreateSerializer,
            "multipart/form-data": PortfolioItemCreateSerializer,
        },
        responses={201: PortfolioItemSerializer},
        summary="Add a portfolio item",
        description=(
            "Errors (400): `invalid_title`, `invalid_link`, `file_type_not_allowed`, "
            "`file_too_large`, `portfolio_full`."
        ),
        examples=[
            OpenApiExample(
                "A link to live work",
                request_only=True,
                value={
                    "title": "Escrow dashboard",
                    "description": "Milestone payments for a design agency.",
                    "link": "https://example.com/case-study",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = PortfolioItemCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = profile_services.add_portfolio_item(
            actor=acting_user(request), **body.validated_data
        )
        return Response(PortfolioItemSerializer(item).data, status=status.HTTP_201_CREATED)


class PortfolioItemView(APIView):
    """One of your portfolio items."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={204: None},
        summary="Remove a portfolio item",
        description="Someone else's item is a 404.",
    )
    def delete(self, request: Request, item_id: int) -> Response:
        profile_services.remove_portfolio_item(actor=acting_user(request), item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ReadOrAuthenticated(BasePermission):
    """Published reviews are public; writing one needs a login."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or bool(
            request.user and request.user.is_authenticated
        )


class ReviewListCreateView(generics.ListAPIView[Review]):
    """Published reviews, your own blind ones, and leaving a review."""

    permission_classes = [_ReadOrAuthenticated]
    serializer_class = ReviewSerializer

    def get_queryset(self) -> Any:
        query = ReviewQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        viewer = self.request.user if isinstance(self.request.user, User) else None
        return review_selectors.visible_reviews(
            viewer, subject_id=query.validated_data.get("subject")
        )

    @extend_schema(
        summary="List reviews",
        parameters=[ReviewQuerySerializer],
        description=(
            "Published reviews for everyone, plus the caller's own reviews that are "
            "still blind (`published: false`) until the other party reviews or 14 days pass."
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ReviewCreateSerializer,
        responses={201: ReviewSerializer},
        summary="Review the other party of a completed contract",
        description=(
            "Errors: `invalid_rating`, `review_too_long` (400); `not_found` (404) for a "
            "contract you are not party to; `contract_not_completed`, `review_window_closed`, "
            "`already_reviewed` (409)."
        ),
        examples=[
            OpenApiExample(
                "Five stars",
                request_only=True,
                value={"contract": 42, "rating": 5, "text": "Clear brief and quick approvals."},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = ReviewCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        review = review_services.leave_review(
            actor=acting_user(request),
            contract_id=body.validated_data["contract"],
            rating=body.validated_data["rating"],
            text=body.validated_data["text"],
        )
        review = review_selectors.visible_reviews(acting_user(request)).get(pk=review.pk)
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)
