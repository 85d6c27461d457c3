"""Marketplace profiles API routes (under /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from marketplace import api_profiles

urlpatterns: list[URLPattern | URLResolver] = [
    path("categories/", api_profiles.CategoryListView.as_view(), name="category-list"),
    path("skills/", api_profiles.SkillListView.as_view(), name="skill-list"),
    path("profiles/", api_profiles.ProfileListView.as_view(), name="profile-list"),
    path("profiles/me/", api_profiles.ProfileMeView.as_view(), name="profile-me"),
    path(
        "profiles/me/portfolio/",
        api_profiles.PortfolioCreateView.as_view(),
        name="profile-portfolio",
    ),
    path(
        "profiles/me/portfolio/<int:item_id>/",
        api_profiles.PortfolioItemView.as_view(),
        name="profile-portfolio-item",
    ),
    path(
        "profiles/<int:user_id>/", api_profiles.ProfileDetailView.as_view(), name="profile-detail"
    ),
    path("reviews/", api_profiles.ReviewListCreateView.as_view(), name="review-list"),
]
