"""`seed_demo` loads demo users once, with progress, and logs them in."""

import pytest
from django.core.management import call_command

from marketplace.models import User
from smartpay.demo import DEMO_USERS

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_users_who_can_log_in(client, settings, capsys):
    call_command("seed_demo", "--if-empty")
    out, err = capsys.readouterr()
    assert User.objects.count() == len(DEMO_USERS)
    assert "100%" in err  # progress bar reached the end
    assert "client@demo.smartpay.test" in out
    assert client.login(username="arbiter@demo.smartpay.test", password=settings.DEMO_PASSWORD)
    assert User.objects.get(email="arbiter@demo.smartpay.test").is_arbiter


def test_seed_demo_if_empty_leaves_a_populated_database_alone(capsys):
    call_command("seed_demo", "--if-empty")
    User.objects.filter(email="client@demo.smartpay.test").update(first_name="Changed")
    call_command("seed_demo", "--if-empty")
    assert "left as it is" in capsys.readouterr().out
    assert User.objects.get(email="client@demo.smartpay.test").first_name == "Changed"


def test_seed_demo_twice_without_flag_creates_no_duplicates():
    call_command("seed_demo")
    call_command("seed_demo")
    assert User.objects.count() == len(DEMO_USERS)
