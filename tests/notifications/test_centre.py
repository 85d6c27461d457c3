"""The notification centre: the page, the API and the bell, each showing only your own."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from notifications.models import Notification
from tests.factories import make_user, verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db


def rows(user, count: int, *, read: bool = False, verb: str = "review") -> list[Notification]:
    return [
        Notification.objects.create(
            user=user,
            verb=verb,
            title=f"Event {number}",
            url=f"/contracts/{number}/",
            read_at=timezone.now() if read else None,
        )
        for number in range(count)
    ]


@pytest.fixture
def page_client(client, user):
    client.force_login(user)
    return client


# --- API ---------------------------------------------------------------------------


def test_the_list_is_yours_newest_first_with_the_unread_count(user_api, user, other_user):
    older, newer = rows(user, 2)
    rows(user, 1, read=True)
    rows(other_user, 3)
    body = user_api.get("/api/v1/notifications/").json()
    assert body["count"] == 3
    assert body["unread"] == 2
    ids = [item["id"] for item in body["results"]]
    assert ids == sorted(ids, reverse=True)
    assert {older.pk, newer.pk} <= set(ids)
    first = body["results"][0]
    assert set(first) == {"id", "verb", "title", "url", "created_at", "read"}


def test_unread_filter_lists_only_unread(user_api, user):
    unread = rows(user, 2)
    rows(user, 2, read=True)
    body = user_api.get("/api/v1/notifications/", {"unread": "1"}).json()
    assert {item["id"] for item in body["results"]} == {n.pk for n in unread}
    assert all(item["read"] is False for item in body["results"])


def test_the_list_is_paginated(user_api, user):
    rows(user, 25)
    body = user_api.get("/api/v1/notifications/", {"page_size": 10, "page": 3}).json()
    assert body["count"] == 25
    assert len(body["results"]) == 5
    assert body["next"] is None


def test_the_list_runs_the_same_queries_for_few_and_many(user_api, user):
    rows(user, 2)
    with CaptureQueriesContext(connection) as few:
        assert user_api.get("/api/v1/notifications/").status_code == 200
    rows(user, 30)
    with CaptureQueriesContext(connection) as many:
        assert len(user_api.get("/api/v1/notifications/").json()["results"]) == 20
    assert len(many.captured_queries) == len(few.captured_queries)


def test_marking_one_read_answers_with_it_and_the_count(user_api, user):
    first, _second = rows(user, 2)
    response = user_api.post(f"/api/v1/notifications/{first.pk}/read/")
    assert response.status_code == 200
    assert response.json()["notification"]["read"] is True
    assert response.json()["unread"] == 1
    again = user_api.post(f"/api/v1/notifications/{first.pk}/read/")
    assert again.status_code == 200
    assert again.json()["unread"] == 1


def test_someone_elses_notification_is_404_and_stays_unread(user_api, other_user):
    (theirs,) = rows(other_user, 1)
    response = user_api.post(f"/api/v1/notifications/{theirs.pk}/read/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_all_marks_only_yours(user_api, user, other_user):
    rows(user, 3)
    theirs = rows(other_user, 2)
    response = user_api.post("/api/v1/notifications/read-all/")
    assert response.json() == {"marked": 3, "unread": 0}
    assert not Notification.objects.filter(user=user, read_at=None).exists()
    assert Notification.objects.filter(pk__in=[n.pk for n in theirs], read_at=None).count() == 2


def test_the_api_needs_a_login(api):
    assert api.get("/api/v1/notifications/").status_code in {401, 403}
    assert api.post("/api/v1/notifications/read-all/").status_code in {401, 403}


# --- page --------------------------------------------------------------------------


def test_the_page_lists_yours_and_says_how_many_are_unread(page_client, user, other_user):
    rows(user, 2)
    rows(user, 1, read=True)
    rows(other_user, 1, verb="secret")
    Notification.objects.filter(user=other_user).update(title="Not yours")
    html = page_client.get("/notifications/").content.decode()
    assert "You have 2 unread notifications." in html
    assert "(2 unread)" in html  # the bell
    assert html.count("<strong>Unread</strong>") == 2
    assert "Not yours" not in html
    assert 'href="/contracts/0/"' in html


def test_the_page_marks_one_read_and_returns(page_client, user):
    first, _ = rows(user, 2)
    response = page_client.post(
        f"/notifications/{first.pk}/read/", {"next": "/notifications/?page=1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/notifications/?page=1"
    first.refresh_from_db()
    assert first.read_at is not None
    assert "You have 1 unread notification." in page_client.get("/notifications/").content.decode()


def test_the_page_does_not_follow_next_off_site(page_client, user):
    (first,) = rows(user, 1)
    response = page_client.post(
        f"/notifications/{first.pk}/read/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/notifications/"


def test_the_page_refuses_someone_elses_with_404(page_client, other_user):
    (theirs,) = rows(other_user, 1)
    assert page_client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_page_marks_all_read(page_client, user):
    rows(user, 3)
    response = page_client.post("/notifications/read-all/", follow=True)
    html = response.content.decode()
    assert "Marked 3 notifications read." in html
    assert "You have no unread notifications." in html
    assert "(no unread)" in html


def test_the_page_is_paginated_and_filters_unread(page_client, user):
    rows(user, 25)
    rows(user, 1, read=True)
    second = page_client.get("/notifications/", {"page": 2}).content.decode()
    assert "Page 2 of 2" in second
    unread = page_client.get("/notifications/", {"unread": "1"}).content.decode()
    assert "Showing unread only" in unread
    assert "Page 1 of 2" in unread


def test_the_page_runs_the_same_queries_for_few_and_many(page_client, user):
    rows(user, 2)
    with CaptureQueriesContext(connection) as few:
        page_client.get("/notifications/")
    rows(user, 30)
    with CaptureQueriesContext(connection) as many:
        page_client.get("/notifications/")
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_page_needs_a_login(client):
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_bell_counts_in_words_on_every_page(page_client, user):
    html = page_client.get("/").content.decode()
    assert "(no unread)" in html
    assert "js/notifications.js" in html
    rows(user, 1)
    assert "(1 unread)" in page_client.get("/").content.decode()


def test_the_bell_is_not_shown_to_visitors(client):
    html = client.get("/").content.decode()
    assert "data-notification-bell" not in html
    assert "js/notifications.js" not in html


def test_the_bell_counts_with_one_query(page_client, user):
    make_user()
    rows(user, 4)
    with CaptureQueriesContext(connection) as queries:
        page_client.get("/")
    counts = [
        q["sql"] for q in queries.captured_queries if "notifications_notification" in q["sql"]
    ]
    assert len(counts) == 1


@pytest.mark.parametrize("name", ["notification-read", "notification_read"])
def test_every_method_on_someone_elses_notification_is_404_or_not_allowed(name, other_user):
    (theirs,) = rows(other_user, 1)
    client = APIClient()
    client.force_login(make_user())
    url = reverse(name, kwargs={"pk": theirs.pk})
    answers = {
        method: getattr(client, method)(url, {"next": "/"}, format="json").status_code
        for method in ("get", "post", "patch", "delete")
    }
    assert answers["post"] == 404
    assert set(answers.values()) <= {404, 405}
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_support_reads_notifications_in_the_admin_and_cannot_change_them(user):
    rows(user, 2)
    console = signed_in_with_mfa(
        verified_user(is_staff=True, is_superuser=True), Client(REMOTE_ADDR="198.51.100.4")
    )
    listing = console.get(reverse("admin:notifications_notification_changelist"))
    assert listing.status_code == 200
    assert "Event 1" in listing.content.decode()
    assert console.get(reverse("admin:notifications_notification_add")).status_code == 403
    one = Notification.objects.filter(user=user).first()
    assert one is not None
    detail = console.get(reverse("admin:notifications_notification_change", args=[one.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    prefs = console.get(reverse("admin:notifications_notificationpreference_changelist"))
    assert prefs.status_code == 200
