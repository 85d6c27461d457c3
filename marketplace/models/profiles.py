"""Freelancer and client profiles and portfolios."""

from django.conf import settings
from django.db import models

from marketplace.money import amount_field, currency_field


class Profile(models.Model):
    """One per user, created on first edit; public for freelancers."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    headline = models.CharField(max_length=120, blank=True)
    bio = models.TextField(blank=True)
    skills = models.ManyToManyField("marketplace.Skill", blank=True, related_name="profiles")
    hourly_rate = amount_field(null=True, blank=True, help_text="Minor units per hour.")
    currency = currency_field(default="usd")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    timezone = models.CharField(max_length=64, blank=True, default="UTC")
    avatar = models.FileField(upload_to="avatars/%Y/%m/", blank=True)
    # Derived from reviews and contracts; updated by the services that change them.
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    rating_count = models.PositiveIntegerField(default=0)
    completed_contracts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hourly_rate__isnull=True) | models.Q(hourly_rate__gt=0),
                name="profile_hourly_rate_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class PortfolioItem(models.Model):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="portfolio")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    link = models.URLField(blank=True)
    file = models.FileField(upload_to="portfolio/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
