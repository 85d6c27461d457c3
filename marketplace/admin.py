from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from marketplace.models import User, Wallet
from smartpay.admin_audit import AuditedModelAdmin


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_client", "is_freelancer", "is_staff")
    list_filter = ("is_client", "is_freelancer", "is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("first_name", "last_name")}),
        ("Roles", {"fields": ("is_client", "is_freelancer")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),
        ("Roles", {"fields": ("is_client", "is_freelancer")}),
    )


@admin.register(Wallet)
class WalletAdmin(AuditedModelAdmin):
    list_display = ("address", "user", "is_primary", "created_at")
    list_filter = ("is_primary",)
    search_fields = ("address", "user__email")
    readonly_fields = ("address", "user", "is_primary", "created_at")
    list_select_related = ("user",)


# Each area registers its own models.
from marketplace import admin_contracts, admin_jobs, admin_profiles  # noqa: E402, F401
