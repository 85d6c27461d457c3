"""Preferences by kind of event and channel: defaults, the API's matrix, the page."""

from __future__ import annotations

import pytest

from notifications import emails, preferences
from notifications.models import Channel, NotificationPreference

pytestmark = pytest.mark.django_db

MAILED = "milestone_funded"
UNMAILED = "proposal_updated"


@pytest.fixture(autouse=True)
def _catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """One verb with an e-mail, one without, whatever the catalogue holds today."""
    monkeypatch.setitem(emails.EMAIL_VERBS, MAILED, "notification")
    monkeypatch.delitem(emails.EMAIL_VERBS, UNMAILED, raising=False)


def test_defaults_are_in_app_for_all_and_e_mail_where_there_is_one(user):
    assert preferences.wants(user.pk, UNMAILED, Channel.IN_APP)
    assert not preferences.wants(user.pk, UNMAILED, Channel.EMAIL)
    assert preferences.wants(user.pk, MAILED, Channel.EMAIL)
    assert preferences.wants(user.pk, "some_new_verb", Channel.IN_APP)


def test_a_stored_choice_beats_the_default_for_that_user_only(user, other_user):
    preferences.set_preferences(user_id=user.pk, choices={MAILED: {"email": False}})
    assert not preferences.wants(user.pk, MAILED, Channel.EMAIL)
    assert preferences.wants(user.pk, MAILED, Channel.IN_APP)  # left out: unchanged
    assert preferences.wants(other_user.pk, MAILED, Channel.EMAIL)


def test_the_api_shows_the_matrix(user_api):
    body = user_api.get("/api/v1/notifications/preferences/").json()
    assert body["preferences"][MAILED] == {"in_app": True, "email": True}
    assert body["preferences"][UNMAILED] == {"in_app": True, "email": False}
    assert set(body["labels"]) == set(preferences.VERBS) | set(emails.EMAIL_VERBS)
    assert set(body["preferences"]) == set(body["labels"])


def test_the_api_changes_what_is_sent_and_keeps_the_rest(user_api, user):
    response = user_api.put(
        "/api/v1/notifications/preferences/",
        {"preferences": {MAILED: {"email": False}, UNMAILED: {"in_app": False}}},
        format="json",
    )
    assert response.status_code == 200
    matrix = response.json()["preferences"]
    assert matrix[MAILED] == {"in_app": True, "email": False}
    assert matrix[UNMAILED] == {"in_app": False, "email": False}
    assert NotificationPreference.objects.filter(user=user).count() == 2
    again = user_api.put(
        "/api/v1/notifications/preferences/",
        {"preferences": {MAILED: {"email": True}}},
        format="json",
    )
    assert again.json()["preferences"][MAILED]["email"] is True
    assert NotificationPreference.objects.filter(user=user).count() == 2


@pytest.mark.parametrize(
    "choices",
    [
        {"no_such_verb": {"in_app": False}},
        {MAILED: {"sms": True}},
    ],
)
def test_unknown_kinds_or_channels_are_refused_and_nothing_is_stored(user_api, choices):
    response = user_api.put(
        "/api/v1/notifications/preferences/", {"preferences": choices}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_preference"
    assert not NotificationPreference.objects.exists()


def test_a_malformed_body_is_refused(user_api):
    response = user_api.put(
        "/api/v1/notifications/preferences/", {"preferences": {MAILED: "off"}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_page_shows_the_matrix_and_saves_unticked_boxes_as_off(client, user):
    client.force_login(user)
    html = client.get("/notifications/preferences/").content.decode()
    assert f'name="{MAILED}:email" checked' in html
    assert f'name="{UNMAILED}:email"' not in html  # no e-mail to choose
    ticked = {f"{verb}:in_app": "on" for verb in preferences.listed_verbs()}
    ticked.pop(f"{UNMAILED}:in_app")
    response = client.post("/notifications/preferences/", ticked, follow=True)
    assert "Your notification preferences are saved." in response.content.decode()
    assert not preferences.wants(user.pk, UNMAILED, Channel.IN_APP)
    assert not preferences.wants(user.pk, MAILED, Channel.EMAIL)  # its box was not ticked
    assert preferences.wants(user.pk, MAILED, Channel.IN_APP)
    html = client.get("/notifications/preferences/").content.decode()
    assert f'name="{UNMAILED}:in_app"' in html
    assert f'name="{UNMAILED}:in_app" checked' not in html
