"""Profile pages: find freelancers (with htmx), a public profile, editing your own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketplace.models import PortfolioItem, Profile, Skill
from marketplace.services.reviews import leave_review
from tests.factories import make_completed_contract, make_freelancer_profile, make_user

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def slug_of(name: str) -> str:
    return Skill.objects.get(name=name).slug


# --- find freelancers ------------------------------------------------------------


def test_find_freelancers_page_lists_freelancers_with_an_accessible_search_form(client):
    make_freelancer_profile(
        user=make_user(is_freelancer=True, first_name="Fiona", last_name="Flow"),
        headline="Django developer",
        hourly_rate=9_000,
        skills=(slug_of("Django"),),
    )
    make_user(is_freelancer=False, first_name="Clara", last_name="Client")
    response = client.get(reverse("freelancer_list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Fiona Flow" in html
    assert "Clara Client" not in html
    assert "$90.00 per hour" in html
    assert 'role="search"' in html
    assert '<label for="id_q">' in html
    assert '<label for="id_skills">' in html
    assert 'aria-live="polite"' in html
    assert 'hx-get="/freelancers/"' in html
    assert "style=" not in html
    assert "1 freelancer found" in html


def test_search_filters_by_text_skills_and_rate_in_major_units(client):
    cheap = make_freelancer_profile(
        user=make_user(is_freelancer=True, first_name="Cheap", last_name="Dev"),
        hourly_rate=3_000,
        skills=(slug_of("React"),),
    )
    make_freelancer_profile(
        user=make_user(is_freelancer=True, first_name="Pricey", last_name="Dev"),
        hourly_rate=20_000,
        skills=(slug_of("Django"),),
    )
    html = client.get(
        reverse("freelancer_list"), {"rate_max": "50", "currency": "usd", "q": "dev"}
    ).content.decode()
    assert cheap.user.display_name in html
    assert "Pricey Dev" not in html
    html = client.get(
        reverse("freelancer_list"), {"skills": [slug_of("Django"), slug_of("Flutter")]}
    ).content.decode()
    assert "Pricey Dev" in html
    assert "Cheap Dev" not in html


def test_an_htmx_search_returns_only_the_results_fragment(client):
    make_freelancer_profile(user=make_user(is_freelancer=True, first_name="Hana"))
    response = client.get(reverse("freelancer_list"), {"q": "Hana"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hana" in html
    assert "<html" not in html
    assert 'role="search"' not in html
    assert 'id="results-title"' in html


def test_htmx_history_restore_gets_the_whole_page_and_caches_vary_on_hx_request(client):
    response = client.get(
        reverse("freelancer_list"),
        {"q": "x"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_a_bad_rate_range_is_a_form_error_not_a_500(client):
    response = client.get(reverse("freelancer_list"), {"rate_min": "90", "rate_max": "10"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "The minimum rate is above the maximum rate." in html
    assert 'role="alert"' in html
    response = client.get(reverse("freelancer_list"), {"rate_min": "-1"})
    assert 'role="alert"' in response.content.decode()


def _freelancers(count: int) -> None:
    slugs = tuple(Skill.objects.order_by("pk").values_list("slug", flat=True)[:3])
    for _ in range(count):
        make_freelancer_profile(hourly_rate=5_000, skills=slugs)


def test_find_freelancers_runs_a_constant_number_of_queries(client, django_assert_num_queries):
    params = {"q": "", "rate_min": "1", "ordering": "rating"}
    _freelancers(3)
    client.get(reverse("freelancer_list"), params)  # warm caches (sessions, content types)
    with django_assert_num_queries(4) as few:
        client.get(reverse("freelancer_list"), params)
    _freelancers(17)
    with django_assert_num_queries(len(few.captured_queries)):
        html = client.get(reverse("freelancer_list"), params).content.decode()
    assert "20 freelancers found" in html


# --- public profile ----------------------------------------------------------------


def test_public_profile_shows_details_rating_in_words_portfolio_and_published_reviews(client):
    freelancer = make_user(is_freelancer=True, first_name="Pat", last_name="Lee")
    profile = make_freelancer_profile(
        user=freelancer,
        headline="Smart contract auditor",
        bio="Ten years of audits.",
        hourly_rate=15_000,
        currency="eur",
        country="PT",
        timezone="Europe/Lisbon",
        completed_contracts=7,
        skills=(slug_of("Solidity"),),
    )
    PortfolioItem.objects.create(profile=profile, title="Audit of a DEX")
    contract = make_completed_contract(freelancer=freelancer)
    leave_review(actor=contract.client, contract_id=contract.pk, rating=5, text="Thorough.")
    blind = make_completed_contract(freelancer=freelancer)
    leave_review(actor=blind.client, contract_id=blind.pk, rating=1, text="Still blind.")
    leave_review(actor=freelancer, contract_id=contract.pk, rating=5)

    response = client.get(reverse("freelancer_detail", args=[freelancer.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    for expected in (
        "Pat Lee",
        "Smart contract auditor",
        "Ten years of audits.",
        "Solidity",
        "€150.00 per hour",
        "PT",
        "Europe/Lisbon",
        "5 out of 5 from 1 review",
        "Audit of a DEX",
        "Thorough.",
        "<dt>Completed contracts</dt><dd>7</dd>",
    ):
        assert expected in html, expected
    assert "Still blind." not in html


def test_rating_summary_says_average_and_count_in_words(client):
    profile = make_freelancer_profile(rating_average=Decimal("4.50"), rating_count=12)
    html = client.get(reverse("freelancer_detail", args=[profile.user_id])).content.decode()
    assert "4.5 out of 5 from 12 reviews" in html


def test_a_non_freelancers_profile_page_is_404(client):
    user = make_user(is_freelancer=False)
    assert client.get(reverse("freelancer_detail", args=[user.pk])).status_code == 404
    assert client.get(reverse("freelancer_detail", args=[999_999])).status_code == 404


# --- edit your profile ---------------------------------------------------------------


def test_edit_page_needs_a_login(client):
    response = client.get(reverse("profile_edit"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def _profile_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "headline": "Flutter developer",
        "bio": "Apps.",
        "skills": [slug_of("Flutter")],
        "hourly_rate": "75.50",
        "currency": "usd",
        "country": "nl",
        "timezone": "Europe/Amsterdam",
    }
    data.update(overrides)
    return data


def test_editing_the_profile_saves_it_in_minor_units(client):
    user = make_user(is_freelancer=True)
    client.force_login(user)
    page = client.get(reverse("profile_edit"))
    assert page.status_code == 200
    assert '<label for="id_hourly_rate">' in page.content.decode()
    response = client.post(reverse("profile_edit"), _profile_form())
    assert response.status_code == 302
    profile = Profile.objects.get(user=user)
    assert (profile.hourly_rate, profile.country, profile.timezone) == (
        7_550,
        "NL",
        "Europe/Amsterdam",
    )
    assert list(profile.skills.values_list("name", flat=True)) == ["Flutter"]
    # The form shows the saved rate back in major units.
    assert 'value="75.50"' in client.get(reverse("profile_edit")).content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hourly_rate": "0"}, "above zero"),
        ({"hourly_rate": "-3"}, "above zero"),
        ({"hourly_rate": "1.234"}, "decimal places"),
        ({"timezone": "Mars/Olympus_Mons"}, "Select a valid choice"),
        ({"country": "X1"}, "two-letter"),
    ],
)
def test_bad_profile_input_is_a_form_error_and_nothing_is_saved(client, overrides, message):
    user = make_user(is_freelancer=True)
    client.force_login(user)
    response = client.post(reverse("profile_edit"), _profile_form(**overrides))
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert 'role="alert"' in html
    assert not Profile.objects.filter(user=user).exists()


def test_a_disallowed_avatar_is_a_form_error(client):
    user = make_user(is_freelancer=True)
    client.force_login(user)
    response = client.post(
        reverse("profile_edit"),
        _profile_form(avatar=SimpleUploadedFile("me.svg", b"<svg/>", content_type="image/svg+xml")),
    )
    assert response.status_code == 400
    assert "PNG, JPEG, GIF or WebP" in response.content.decode()
    assert not Profile.objects.filter(user=user).exists()


def test_an_avatar_is_uploaded_from_the_edit_page(client):
    user = make_user(is_freelancer=True)
    client.force_login(user)
    response = client.post(
        reverse("profile_edit"),
        _profile_form(avatar=SimpleUploadedFile("me.png", PNG, content_type="image/png")),
    )
    assert response.status_code == 302
    assert Profile.objects.get(user=user).avatar.name.startswith("avatars/")


def test_portfolio_items_are_added_and_removed_from_the_edit_page(client):
    user = make_user(is_freelancer=True)
    client.force_login(user)
    response = client.post(
        reverse("portfolio_add"),
        {
            "title": "Shop app",
            "link": "https://example.com/shop",
            "file": SimpleUploadedFile("shot.png", PNG, content_type="image/png"),
        },
    )
    assert response.status_code == 302
    item = PortfolioItem.objects.get(profile__user=user)
    assert "Shop app" in client.get(reverse("profile_edit")).content.decode()
    response = client.post(reverse("portfolio_remove", args=[item.pk]))
    assert response.status_code == 302
    assert not PortfolioItem.objects.exists()


def test_a_bad_portfolio_file_is_a_form_error(client):
    user = make_user(is_freelancer=True)
    client.force_login(user)
    response = client.post(
        reverse("portfolio_add"),
        {"title": "Script", "file": SimpleUploadedFile("x.exe", b"MZ", "application/x-msdownload")},
    )
    assert response.status_code == 400
    assert "Portfolio files may be" in response.content.decode()
    assert not PortfolioItem.objects.exists()


def test_removing_someone_elses_portfolio_item_is_404(client):
    item = PortfolioItem.objects.create(profile=make_freelancer_profile(), title="Theirs")
    client.force_login(make_user())
    assert client.post(reverse("portfolio_remove", args=[item.pk])).status_code == 404
    assert PortfolioItem.objects.filter(pk=item.pk).exists()


def test_admin_lists_catalogue_profiles_and_reviews_read_mostly(rf):
    from django.contrib import admin

    import marketplace.admin_profiles  # noqa: F401 - registers the model admins
    from marketplace.models import Category, Review

    for model in (Category, Skill, Profile, Review):
        assert admin.site.is_registered(model)
    review_admin = admin.site._registry[Review]
    request = rf.get("/admin/")
    request.user = make_user(is_staff=True, is_superuser=True)
    assert not review_admin.has_add_permission(request)
    assert not review_admin.has_delete_permission(request)
    assert "rating" in review_admin.get_readonly_fields(request)
    assert not admin.site._registry[Profile].has_add_permission(request)
