"""Users, their wallets and sign-in nonces. The user model dates from the first migration."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower

ARBITERS_GROUP = "arbiters"
RESOLVE_PERMISSION = "marketplace.resolve_disputes"


def holds_resolve_permission() -> models.Q:
    """Users granted the arbiter permission through a group or directly. Django gives a
    superuser every permission implicitly; that alone does not make anyone an arbiter."""
    app_label, codename = RESOLVE_PERMISSION.split(".")
    return models.Q(
        groups__permissions__codename=codename,
        groups__permissions__content_type__app_label=app_label,
    ) | models.Q(
        user_permissions__codename=codename,
        user_permissions__content_type__app_label=app_label,
    )


class UserManager(BaseUserManager["User"]):
    """Users log in with their e-mail address; there is no username."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractUser):
    """A person on SmartPay: a client, a freelancer, or both; staff may arbitrate."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    is_client = models.BooleanField(default=True, help_text="Can post jobs and fund milestones.")
    is_freelancer = models.BooleanField(
        default=False, help_text="Can propose on jobs and be paid for milestones."
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]
        permissions = [("resolve_disputes", "Can resolve disputes as an arbiter")]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email.split("@")[0]

    @property
    def is_arbiter(self) -> bool:
        """Active staff granted the arbiter permission (the ``arbiters`` group, or
        directly); a superuser is an arbiter only when granted it as well."""
        if not (self.is_active and self.is_staff):
            return False
        if not self.is_superuser:
            return self.has_perm(RESOLVE_PERMISSION)
        cached = getattr(self, "_explicit_arbiter", None)
        if cached is None:
            cached = User.objects.filter(pk=self.pk).filter(holds_resolve_permission()).exists()
            self._explicit_arbiter = cached
        return cached

    @property
    def roles(self) -> list[str]:
        roles = []
        if self.is_client:
            roles.append("client")
        if self.is_freelancer:
            roles.append("freelancer")
        if self.is_staff:
            roles.append("staff")
        if self.is_arbiter:
            roles.append("arbiter")
        return roles


class Wallet(models.Model):
    """An Ethereum address the user proved they control (Sign-In with Ethereum)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wallets")
    # EIP-55 checksummed, so one address has one spelling and `unique` holds.
    address = models.CharField(max_length=42, unique=True)
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_primary=True),
                name="wallet_one_primary_per_user",
            ),
        ]

    def __str__(self) -> str:
        return self.address


class SiweNonce(models.Model):
    """A single-use nonce handed out for one EIP-4361 message."""

    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.nonce
