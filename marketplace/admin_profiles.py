"""Admin for the catalogue, profiles and reviews. Read-mostly: derived numbers
(ratings, completed contracts) and reviews change only through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from marketplace.models import Category, PortfolioItem, Profile, Review, Skill
from smartpay.admin_audit import AuditedModelAdmin


class SkillInline(admin.TabularInline):
    model = Skill
    fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    extra = 0


@admin.register(Category)
class CategoryAdmin(AuditedModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [SkillInline]


@admin.register(Skill)
class SkillAdmin(AuditedModelAdmin):
    list_display = ("name", "slug", "category")
    list_filter = ("category",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("category",)


class PortfolioItemInline(admin.StackedInline):
    model = PortfolioItem
    fields = ("title", "description", "link", "file", "created_at")
    readonly_fields = ("created_at",)
    extra = 0


@admin.register(Profile)
class ProfileAdmin(AuditedModelAdmin):
    list_display = (
        "user",
        "headline",
        "hourly_rate",
        "currency",
        "country",
        "rating_average",
        "rating_count",
        "completed_contracts",
    )
    list_filter = ("currency", "user__is_freelancer")
    search_fields = ("user__email", "user__first_name", "user__last_name", "headline")
    list_select_related = ("user",)
    autocomplete_fields = ("skills",)
    readonly_fields = (
        "user",
        "rating_average",
        "rating_count",
        "completed_contracts",
        "updated_at",
    )
    inlines = [PortfolioItemInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # profiles are created on a user's first edit


@admin.register(Review)
class ReviewAdmin(AuditedModelAdmin):
    list_display = ("contract", "author", "subject", "rating", "created_at", "published_at")
    list_filter = ("rating", ("published_at", admin.EmptyFieldListFilter))
    search_fields = ("author__email", "subject__email", "contract__title", "text")
    list_select_related = ("contract", "author", "subject")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Review._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # reviews are written by contract parties only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Ratings derive from reviews; removing one must go through a service (none yet).
        return False
