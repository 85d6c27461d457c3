"""Profile services: edit one's own profile and portfolio, keep derived counters.

A ``Profile`` row is created on the first edit (``get_or_create``); until then a
user simply has the model defaults. Every rule about what a profile may hold is
checked here, so the API and the edit page refuse the same input the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath
from typing import Any
from zoneinfo import available_timezones

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q

from marketplace.models import Contract, PortfolioItem, Profile, Skill, User
from marketplace.money import CURRENCIES
from marketplace.services import audited
from smartpay import audit
from smartpay.errors import DomainError, InvalidTransition, NotFoundError

MAX_SKILLS = 20
MAX_PORTFOLIO_ITEMS = 50
AVATAR_MAX_BYTES = 5 * 1024 * 1024
PORTFOLIO_FILE_MAX_BYTES = 25 * 1024 * 1024
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")

# Avatars are shown inline on public pages, so only raster images whose first
# bytes match their extension are accepted (no SVG: it can carry script).
AVATAR_TYPES: dict[str, tuple[set[str], tuple[bytes, ...]]] = {
    ".png": ({"image/png"}, (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ({"image/jpeg", "image/pjpeg"}, (b"\xff\xd8\xff",)),
    ".jpeg": ({"image/jpeg", "image/pjpeg"}, (b"\xff\xd8\xff",)),
    ".gif": ({"image/gif"}, (b"GIF87a", b"GIF89a")),
    ".webp": ({"image/webp"}, (b"RIFF",)),
}
# Portfolio files are downloaded, not rendered inline.
PORTFOLIO_TYPES: dict[str, set[str]] = {
    ".pdf": {"application/pdf"},
    ".png": {"image/png"},
    ".jpg": {"image/jpeg"},
    ".jpeg": {"image/jpeg"},
    ".gif": {"image/gif"},
    ".webp": {"image/webp"},
    ".txt": {"text/plain"},
    ".md": {"text/markdown", "text/plain"},
    ".zip": {"application/zip", "application/x-zip-compressed"},
    ".docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
}
# Browsers send this when they do not know a type; the extension decides then.
GENERIC_CONTENT_TYPE = "application/octet-stream"


class _Unset:
    """Marks an argument the caller did not pass (``None`` may be a real value)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


# --- validation ---------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"


def validate_avatar(upload: UploadedFile) -> None:
    """PNG, JPEG, GIF or WebP up to 5 MB whose content matches its extension."""
    extension = PurePath(upload.name or "").suffix.lower()
    allowed = AVATAR_TYPES.get(extension)
    if allowed is None:
        raise DomainError(
            "The avatar must be a PNG, JPEG, GIF or WebP image.", code="avatar_type_not_allowed"
        )
    content_types, signatures = allowed
    if (upload.content_type or "").lower() not in content_types | {GENERIC_CONTENT_TYPE}:
        raise DomainError(
            "The avatar's content type does not match its extension.",
            code="avatar_type_not_allowed",
        )
    if (upload.size or 0) > AVATAR_MAX_BYTES:
        raise DomainError(
            f"The avatar may be at most {_megabytes(AVATAR_MAX_BYTES)}.", code="avatar_too_large"
        )
    if not upload.size:
        raise DomainError("The avatar file is empty.", code="avatar_type_not_allowed")
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not head.startswith(signatures) or (extension == ".webp" and head[8:12] != b"WEBP"):
        raise DomainError(
            "The avatar's content is not the image type its name says.",
            code="avatar_type_not_allowed",
        )


def validate_portfolio_file(upload: UploadedFile) -> None:
    """An allow-listed document or image up to 25 MB."""
    extension = PurePath(upload.name or "").suffix.lower()
    content_types = PORTFOLIO_TYPES.get(extension)
    allowed_names = ", ".join(sorted(e.lstrip(".").upper() for e in PORTFOLIO_TYPES))
    if content_types is None or (upload.content_type or "").lower() not in content_types | {
        GENERIC_CONTENT_TYPE
    }:
        raise DomainError(f"Portfolio files may be: {allowed_names}.", code="file_type_not_allowed")
    if (upload.size or 0) > PORTFOLIO_FILE_MAX_BYTES:
        raise DomainError(
            f"A portfolio file may be at most {_megabytes(PORTFOLIO_FILE_MAX_BYTES)}.",
            code="file_too_large",
        )


def _clean_hourly_rate(hourly_rate: int | None) -> int | None:
    if hourly_rate is None:
        return None
    if isinstance(hourly_rate, bool) or not isinstance(hourly_rate, int) or hourly_rate <= 0:
        raise DomainError(
            "The hourly rate must be a whole number of minor units above zero.",
            code="invalid_hourly_rate",
        )
    return hourly_rate


def _clean_currency(currency: str) -> str:
    currency = currency.strip().lower()
    if currency not in CURRENCIES:
        raise DomainError(
            f"Unknown currency; use one of {', '.join(CURRENCIES)}.", code="invalid_currency"
        )
    return currency


def _clean_country(country: str) -> str:
    country = country.strip().upper()
    if country and not COUNTRY_PATTERN.match(country):
        raise DomainError(
            "The country must be a two-letter ISO 3166 code such as DE or US.",
            code="invalid_country",
        )
    return country


def _clean_timezone(name: str) -> str:
    name = name.strip()
    if name not in known_timezones():
        raise DomainError(
            "Unknown time zone; use an IANA name such as Europe/Berlin.", code="invalid_timezone"
        )
    return name


def _resolve_skills(slugs: Sequence[str]) -> list[Skill]:
    wanted = list(dict.fromkeys(slug.strip() for slug in slugs if slug.strip()))
    if len(wanted) > MAX_SKILLS:
        raise DomainError(f"List at most {MAX_SKILLS} skills.", code="too_many_skills")
    found = {skill.slug: skill for skill in Skill.objects.filter(slug__in=wanted)}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise DomainError(f"Unknown skill: {', '.join(unknown)}.", code="unknown_skill")
    return [found[slug] for slug in wanted]


def _text(value: str, *, field: str, max_length: int | None = None) -> str:
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise DomainError(
            f"The {field} may be at most {max_length} characters.", code=f"invalid_{field}"
        )
    return value


@dataclass(frozen=True)
class _CleanProfile:
    fields: dict[str, Any]
    skills: list[Skill] | None


def _clean_profile_changes(
    *,
    headline: Any,
    bio: Any,
    skills: Any,
    hourly_rate: Any,
    currency: Any,
    country: Any,
    timezone: Any,
    avatar: Any,
) -> _CleanProfile:
    """Every check, before anything is written."""
    fields: dict[str, Any] = {}
    if headline is not UNSET:
        fields["headline"] = _text(headline, field="headline", max_length=120)
    if bio is not UNSET:
        fields["bio"] = _text(bio, field="bio", max_length=5000)
    if hourly_rate is not UNSET:
        fields["hourly_rate"] = _clean_hourly_rate(hourly_rate)
    if currency is not UNSET:
        fields["currency"] = _clean_currency(currency)
    if country is not UNSET:
        fields["country"] = _clean_country(country)
    if timezone is not UNSET:
        fields["timezone"] = _clean_timezone(timezone)
    if avatar is not UNSET and avatar is not None:
        validate_avatar(avatar)
    clean_skills = None if skills is UNSET else _resolve_skills(skills)
    return _CleanProfile(fields=fields, skills=clean_skills)


# --- services -----------------------------------------------------------------


def _locked_profile(user: User) -> Profile:
    """The user's profile, created on first use and locked for this transaction."""
    Profile.objects.get_or_create(user=user)
    return Profile.objects.select_for_update().get(user=user)


def update_profile(
    *,
    actor: User,
    headline: str = UNSET,
    bio: str = UNSET,
    skills: Sequence[str] = UNSET,
    hourly_rate: int | None = UNSET,
    currency: str = UNSET,
    country: str = UNSET,
    timezone: str = UNSET,
    avatar: UploadedFile | None = UNSET,
) -> Profile:
    """Change the actor's own profile; arguments left out stay as they are.

    ``skills`` are slugs and replace the current set; ``hourly_rate`` is in minor
    units of ``currency`` (``None`` clears it); ``avatar=None`` removes the avatar.
    """
    clean = _clean_profile_changes(
        headline=headline,
        bio=bio,
        skills=skills,
        hourly_rate=hourly_rate,
        currency=currency,
        country=country,
        timezone=timezone,
        avatar=avatar,
    )
    with transaction.atomic():
        profile = _locked_profile(actor)
        before = audit.snapshot(profile, audited.PROFILE)
        for name, value in clean.fields.items():
            setattr(profile, name, value)
        replaced_avatar = profile.avatar.name if profile.avatar and avatar is not UNSET else ""
        if avatar is None:
            profile.avatar = ""
        elif avatar is not UNSET:
            profile.avatar.save(avatar.name or "avatar", avatar, save=False)
        profile.save()
        if clean.skills is not None:
            profile.skills.set(clean.skills)
        audit.record(
            actor,
            "profile.updated",
            profile,
            before=before,
            after=audit.snapshot(profile, audited.PROFILE),
        )
        if replaced_avatar:
            storage = profile.avatar.storage
            # The old image goes only once the new state is durable.
            transaction.on_commit(lambda: storage.delete(replaced_avatar))
    return profile


def add_portfolio_item(
    *,
    actor: User,
    title: str,
    description: str = "",
    link: str = "",
    file: UploadedFile | None = None,
) -> PortfolioItem:
    """Add a piece of work to the actor's portfolio (a link, a file, or both)."""
    title = _text(title, field="title", max_length=120)
    if not title:
        raise DomainError("Give the portfolio item a title.", code="invalid_title")
    description = _text(description, field="description", max_length=5000)
    link = link.strip()
    if link and not re.match(r"^https?://[^\s/]+\.[^\s]+$", link, re.IGNORECASE):
        raise DomainError("The link must be an http(s) address.", code="invalid_link")
    if len(link) > 200:
        raise DomainError("The link may be at most 200 characters.", code="invalid_link")
    if file is not None:
        validate_portfolio_file(file)
    with transaction.atomic():
        profile = _locked_profile(actor)
        if profile.portfolio.count() >= MAX_PORTFOLIO_ITEMS:
            raise DomainError(
                f"A portfolio holds at most {MAX_PORTFOLIO_ITEMS} items; remove one first.",
                code="portfolio_full",
            )
        item = PortfolioItem(profile=profile, title=title, description=description, link=link)
        if file is not None:
            item.file.save(file.name or "file", file, save=False)
        item.save()
        audit.record(
            actor, "portfolio_item.added", item, after=audit.snapshot(item, audited.PORTFOLIO_ITEM)
        )
    return item


def remove_portfolio_item(*, actor: User, item_id: int) -> None:
    """Delete one of the actor's portfolio items; anyone else's is not found."""
    with transaction.atomic():
        item = (
            PortfolioItem.objects.select_for_update()
            .filter(pk=item_id, profile__user=actor)
            .first()
        )
        if item is None:
            raise NotFoundError("No portfolio item with that id is yours.")
        stored = item.file.name if item.file else ""
        storage = item.file.storage
        audit.record(
            actor,
            "portfolio_item.removed",
            item,
            before=audit.snapshot(item, audited.PORTFOLIO_ITEM),
        )
        item.delete()
        if stored:
            # The row is gone either way; the file goes once the delete is durable.
            transaction.on_commit(lambda: storage.delete(stored))


def record_contract_completed(contract: Contract) -> Profile:
    """Update the freelancer's completed-contract count after ``contract`` completed.

    Call it inside the transaction that marks the contract completed (before or
    after saving the status). The count is recomputed rather than incremented,
    so calling it twice for the same contract is harmless.
    """
    if contract.status != Contract.Status.COMPLETED:
        raise InvalidTransition("Only a completed contract counts.", code="contract_not_completed")
    with transaction.atomic():
        profile = _locked_profile(contract.freelancer)
        others = (
            Contract.objects.filter(
                freelancer_id=contract.freelancer_id, status=Contract.Status.COMPLETED
            )
            .filter(~Q(pk=contract.pk))
            .count()
        )
        profile.completed_contracts = others + 1
        profile.save(update_fields=["completed_contracts", "updated_at"])
    return profile
