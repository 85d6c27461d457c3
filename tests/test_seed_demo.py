"""`seed_demo` loads demo users once, with progress, and logs them in."""

import pytest
from django.conf import settings
from django.core.management import call_command

from disputes.models import Dispute
from marketplace.models import Milestone, User
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


def test_the_demo_has_a_dispute_with_an_arbiter_and_a_second_one_to_confirm():
    call_command("seed_demo")
    call_command("seed_demo")  # a second run adds no second case
    dispute = Dispute.objects.get()
    assert dispute.status == Dispute.Status.ESCALATED
    assert dispute.arbiter is not None
    assert dispute.arbiter.is_arbiter
    assert dispute.milestone.status == Milestone.Status.DISPUTED
    # Above the threshold: the demo has a second arbiter to confirm the decision.
    assert dispute.amount_in_dispute > settings.DISPUTE_SECOND_ARBITER_ABOVE["usd"]
    assert sum(user.is_arbiter for user in User.objects.filter(is_staff=True)) == 2
