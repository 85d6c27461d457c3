"""Profile services: the rules every door shares, and the completed-contract counter."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.models import Contract, PortfolioItem, Profile, Skill
from marketplace.services import profiles as services
from smartpay.errors import DomainError, InvalidTransition, NotFoundError
from tests.factories import make_completed_contract, make_contract, make_user

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(tmp_media):
    return tmp_media


def skill_slugs(count: int) -> list[str]:
    return list(Skill.objects.order_by("pk").values_list("slug", flat=True)[:count])


def test_first_edit_creates_the_profile_with_the_given_fields():
    user = make_user(is_freelancer=True)
    slugs = skill_slugs(2)
    profile = services.update_profile(
        actor=user,
        headline="  Django developer ",
        skills=slugs,
        hourly_rate=8500,
        currency="EUR",
        country="de",
        timezone="Europe/Berlin",
    )
    profile.refresh_from_db()
    assert profile.user == user
    assert profile.headline == "Django developer"
    assert sorted(profile.skills.values_list("slug", flat=True)) == sorted(slugs)
    assert (profile.hourly_rate, profile.currency) == (8500, "eur")
    assert (profile.country, profile.timezone) == ("DE", "Europe/Berlin")


def test_fields_left_out_are_unchanged_and_none_clears_the_rate():
    user = make_user()
    services.update_profile(actor=user, headline="First", hourly_rate=5000)
    services.update_profile(actor=user, bio="About me")
    profile = Profile.objects.get(user=user)
    assert (profile.headline, profile.bio, profile.hourly_rate) == ("First", "About me", 5000)
    services.update_profile(actor=user, hourly_rate=None)
    profile.refresh_from_db()
    assert profile.hourly_rate is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"hourly_rate": 0}, "invalid_hourly_rate"),
        ({"hourly_rate": -100}, "invalid_hourly_rate"),
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_timezone"),
        ({"country": "Germany"}, "invalid_country"),
        ({"country": "D1"}, "invalid_country"),
        ({"currency": "doge"}, "invalid_currency"),
        ({"skills": ["no-such-skill"]}, "unknown_skill"),
        ({"headline": "x" * 121}, "invalid_headline"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(changes, code):
    user = make_user()
    services.update_profile(actor=user, headline="Kept", hourly_rate=4000)
    with pytest.raises(DomainError) as refused:
        services.update_profile(actor=user, bio="Not written either", **changes)
    assert refused.value.code == code
    profile = Profile.objects.get(user=user)
    assert (profile.headline, profile.bio, profile.hourly_rate) == ("Kept", "", 4000)


def test_too_many_skills_are_refused():
    with pytest.raises(DomainError) as refused:
        services.update_profile(actor=make_user(), skills=skill_slugs(services.MAX_SKILLS + 1))
    assert refused.value.code == "too_many_skills"


def test_a_real_png_avatar_is_stored_replaced_and_removed(django_capture_on_commit_callbacks):
    user = make_user()
    avatar = SimpleUploadedFile("me.png", PNG, content_type="image/png")
    profile = services.update_profile(actor=user, avatar=avatar)
    assert profile.avatar.name.startswith("avatars/")
    assert profile.avatar.storage.exists(profile.avatar.name)
    first = profile.avatar.name
    with django_capture_on_commit_callbacks(execute=True):
        profile = services.update_profile(
            actor=user, avatar=SimpleUploadedFile("new.png", PNG, content_type="image/png")
        )
    assert not profile.avatar.storage.exists(first)  # the replaced image is deleted
    second = profile.avatar.name
    with django_capture_on_commit_callbacks(execute=True):
        profile = services.update_profile(actor=user, avatar=None)
    assert not profile.avatar
    assert not profile.avatar.storage.exists(second)


@pytest.mark.parametrize(
    ("name", "content", "content_type", "code"),
    [
        ("me.svg", b"<svg></svg>", "image/svg+xml", "avatar_type_not_allowed"),
        ("me.exe", b"MZ" + b"\0" * 10, "application/x-msdownload", "avatar_type_not_allowed"),
        ("me.png", b"not really a png", "image/png", "avatar_type_not_allowed"),
        ("me.png", PNG, "image/jpeg", "avatar_type_not_allowed"),
        ("me.png", PNG + b"\0" * services.AVATAR_MAX_BYTES, "image/png", "avatar_too_large"),
    ],
)
def test_disallowed_or_oversized_avatars_are_refused(name, content, content_type, code):
    user = make_user()
    with pytest.raises(DomainError) as refused:
        services.update_profile(
            actor=user,
            headline="Not saved",
            avatar=SimpleUploadedFile(name, content, content_type=content_type),
        )
    assert refused.value.code == code
    assert not Profile.objects.filter(user=user).exists()


def test_portfolio_items_are_added_with_files_and_removed_by_their_owner_only():
    owner, stranger = make_user(), make_user()
    item = services.add_portfolio_item(
        actor=owner,
        title="Escrow dashboard",
        link="https://example.com/work",
        file=SimpleUploadedFile("case.pdf", b"%PDF-1.7 ...", content_type="application/pdf"),
    )
    assert item.profile.user == owner
    assert item.file.storage.exists(item.file.name)
    with pytest.raises(NotFoundError):
        services.remove_portfolio_item(actor=stranger, item_id=item.pk)
    assert PortfolioItem.objects.filter(pk=item.pk).exists()
    services.remove_portfolio_item(actor=owner, item_id=item.pk)
    assert not PortfolioItem.objects.filter(pk=item.pk).exists()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"title": "  "}, "invalid_title"),
        ({"title": "Ok", "link": "javascript:alert(1)"}, "invalid_link"),
        (
            {"title": "Ok", "file": SimpleUploadedFile("x.exe", b"MZ", "application/x-msdownload")},
            "file_type_not_allowed",
        ),
        (
            {"title": "Ok", "file": SimpleUploadedFile("x.html", b"<p>", "text/html")},
            "file_type_not_allowed",
        ),
    ],
)
def test_bad_portfolio_items_are_refused(fields, code):
    user = make_user()
    with pytest.raises(DomainError) as refused:
        services.add_portfolio_item(actor=user, **fields)
    assert refused.value.code == code
    assert not PortfolioItem.objects.exists()


def test_an_oversized_portfolio_file_is_refused():
    big = SimpleUploadedFile("big.pdf", b"%PDF", content_type="application/pdf")
    big.size = services.PORTFOLIO_FILE_MAX_BYTES + 1
    with pytest.raises(DomainError) as refused:
        services.add_portfolio_item(actor=make_user(), title="Big", file=big)
    assert refused.value.code == "file_too_large"
    assert not PortfolioItem.objects.exists()


def test_record_contract_completed_counts_the_freelancers_completed_contracts():
    freelancer = make_user(is_freelancer=True)
    first = make_completed_contract(freelancer=freelancer)
    assert services.record_contract_completed(first).completed_contracts == 1
    # Called twice for one contract: still one.
    assert services.record_contract_completed(first).completed_contracts == 1
    second = make_completed_contract(freelancer=freelancer)
    services.record_contract_completed(second)
    assert Profile.objects.get(user=freelancer).completed_contracts == 2


def test_record_contract_completed_counts_a_contract_not_yet_saved_as_completed():
    contract = make_contract()
    contract.status = Contract.Status.COMPLETED  # the caller saves it later in its transaction
    assert services.record_contract_completed(contract).completed_contracts == 1


def test_record_contract_completed_refuses_an_active_contract():
    contract = make_contract()
    with pytest.raises(InvalidTransition):
        services.record_contract_completed(contract)
    assert not Profile.objects.filter(user=contract.freelancer).exists()
