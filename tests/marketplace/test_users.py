"""The user model: e-mail login, roles, arbiters, and /api/v1/me/."""

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.db import IntegrityError

from marketplace.models import ARBITERS_GROUP, User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_email_is_the_login_and_is_case_insensitive():
    user = User.objects.create_user("Dana@Example.TEST", password=PASSWORD)
    assert user.email == "Dana@example.test"  # domain normalised
    assert authenticate(username="dana@example.test", password=PASSWORD) == user
    with pytest.raises(IntegrityError):
        User.objects.create_user("DANA@example.test", password=PASSWORD)


def test_create_user_requires_email():
    with pytest.raises(ValueError, match="e-mail"):
        User.objects.create_user("", password=PASSWORD)


def test_superuser_is_staff():
    admin = User.objects.create_superuser("root@example.test", password=PASSWORD)
    assert admin.is_staff
    assert admin.is_superuser


def test_roles_reflect_client_freelancer_and_arbiter():
    both = make_user(is_client=True, is_freelancer=True)
    assert both.roles == ["client", "freelancer"]
    staff = make_user(is_client=False, is_staff=True)
    assert staff.roles == ["staff"]
    assert not staff.is_arbiter
    staff.groups.add(Group.objects.get(name=ARBITERS_GROUP))
    staff = User.objects.get(pk=staff.pk)  # permissions are cached per instance
    assert staff.is_arbiter
    assert staff.roles == ["staff", "arbiter"]


def test_arbiter_needs_staff_as_well_as_the_group():
    outsider = make_user()
    outsider.groups.add(Group.objects.get(name=ARBITERS_GROUP))
    assert not User.objects.get(pk=outsider.pk).is_arbiter


def test_me_returns_the_user_and_roles(user_api, user, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # user is given; e-mail, MFA, wallets
        response = user_api.get("/api/v1/me/")
    body = response.json()
    assert response.status_code == 200
    assert body["id"] == user.pk
    assert body["email"] == user.email
    assert body["roles"] == ["client"]
    assert body["is_arbiter"] is False
    assert "password" not in body


def test_me_is_read_only(user_api):
    assert user_api.post("/api/v1/me/", {}).status_code == 405
