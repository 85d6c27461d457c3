"""Marketplace profiles pages: find freelancers, public profiles, editing, reviews."""

from django.urls import URLPattern, URLResolver, path

from marketplace import views_profiles

urlpatterns: list[URLPattern | URLResolver] = [
    path("freelancers/", views_profiles.freelancer_list, name="freelancer_list"),
    path("freelancers/<int:user_id>/", views_profiles.freelancer_detail, name="freelancer_detail"),
    path("profile/edit/", views_profiles.profile_edit, name="profile_edit"),
    path("profile/portfolio/", views_profiles.portfolio_add, name="portfolio_add"),
    path(
        "profile/portfolio/<int:item_id>/remove/",
        views_profiles.portfolio_remove,
        name="portfolio_remove",
    ),
    path(
        "contracts/<int:contract_id>/review/",
        views_profiles.contract_review,
        name="contract_review",
    ),
]
