"""Money actions need a verified e-mail: one rule for the API and the pages."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.messages.storage.fallback import FallbackStorage
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.test import APIClient

from marketplace.permissions import verified_required
from tests.factories import make_user, verified_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.probe_urls")]


def test_api_refuses_an_unverified_user_with_a_clear_code():
    user = make_user()
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/probe/verified-only/", {}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "code": "email_unverified",
        "detail": "Verify your e-mail address before moving money.",
    }


def test_api_lets_a_verified_user_act():
    client = APIClient()
    client.force_authenticate(verified_user())
    assert client.post("/api/v1/probe/verified-only/", {}, format="json").status_code == 200


def test_page_decorator_sends_unverified_users_to_their_email_settings(client):
    @verified_required
    def fund_page(request):
        return HttpResponse("funded")

    unverified = make_user()
    request = RequestFactory().get("/fund/")
    request.user = unverified
    request.session = client.session
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    response = fund_page(request)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/email/"

    request.user = verified_user()
    assert fund_page(request).content == b"funded"
