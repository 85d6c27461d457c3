"""/metrics: django-prometheus's request metrics plus the business figures, read at
scrape time in a fixed number of queries; open to a bearer token or an allowed network,
refused to anyone else (and to everyone anonymous under production settings)."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from escrow.models import ChainCursor, Payout, ReconciliationReport
from escrow.services import reconciliation
from smartpay.metrics import check_metrics_settings, register_business_metrics
from smartpay.models import PeriodicRun
from tests.disputes.helpers import funded_milestone, overdue_dispute
from tests.escrow.money import enable_payouts
from tests.factories import verified_user
from tests.helpers import production_env, run_python

pytestmark = pytest.mark.django_db
CURSOR_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client, **headers: Any) -> Samples:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return samples_of(response.content.decode())


def failed_payout(key: str) -> Payout:
    freelancer = verified_user(is_client=False, is_freelancer=True)
    return Payout.objects.create(
        user=freelancer,
        account=enable_payouts(freelancer),
        currency="usd",
        amount=5_000,
        request_key=key,
        status=Payout.Status.FAILED,
        attempts=3,
        failure_message="Account closed",
    )


def busy_platform() -> ReconciliationReport:
    funded_milestone((100_000,))  # $1,000.00 held on the card rail
    overdue_dispute()  # $1,500.00 held, disputed, open past its response deadline
    failed_payout("metrics-failed")
    ChainCursor.objects.create(
        chain_id=31337,
        address=CURSOR_ADDRESS,
        next_block=100,
        head_block=119,
        last_synced_at=timezone.now() - timedelta(minutes=3),
        last_error="The node did not answer within 10 s.",
    )
    PeriodicRun.objects.create(
        name="escrow.settle",
        last_started_at=timezone.now() - timedelta(seconds=70),
        last_success_at=timezone.now() - timedelta(seconds=65),
        failures=2,
    )
    return reconciliation.reconcile()


def test_the_scrape_shows_escrow_disputes_payouts_chain_reconciliation_and_beat(client):
    report = busy_platform()
    assert client.get("/healthz").status_code == 200
    found = scrape(client)

    assert found[("smartpay_escrow_held_minor_units", (("currency", "usd"), ("rail", "card")))] == (
        250_000
    )
    assert found[("smartpay_escrow_held_milestones", (("currency", "usd"), ("rail", "card")))] == 2
    assert found[("smartpay_disputes_open", (("status", "open"),))] == 1
    assert found[("smartpay_disputes_overdue", ())] == 1
    assert found[("smartpay_disputes_unassigned", ())] == 0
    assert found[("smartpay_payouts_failed", ())] == 1
    assert found[("smartpay_payouts_retrying", ())] == 0

    cursor = (("address", CURSOR_ADDRESS.lower()), ("chain_id", "31337"))
    synced = ChainCursor.objects.get().last_synced_at
    assert synced is not None
    assert found[("smartpay_chain_sync_lag_blocks", cursor)] == 20
    assert found[("smartpay_chain_sync_error", cursor)] == 1
    assert found[("smartpay_chain_sync_last_success_timestamp_seconds", cursor)] == pytest.approx(
        synced.timestamp()
    )

    assert found[("smartpay_reconciliation_last_run_timestamp_seconds", ())] == pytest.approx(
        report.started_at.timestamp()
    )
    assert found[("smartpay_reconciliation_ok", ())] == (1 if report.ok else 0)
    assert found[("smartpay_reconciliation_problems", ())] == len(report.problems)
    for key, figures in report.drift.items():
        rail, _, currency = key.partition(":")
        labels = (("currency", currency), ("rail", rail))
        assert found[("smartpay_reconciliation_drift_minor_units", labels)] == figures["drift"]

    run = PeriodicRun.objects.get()
    assert run.last_success_at is not None
    task = (("task", "escrow.settle"),)
    assert found[("smartpay_periodic_last_success_timestamp_seconds", task)] == pytest.approx(
        run.last_success_at.timestamp()
    )
    assert found[("smartpay_periodic_failures_total", task)] == 2
    assert found[("smartpay_business_metrics_up", ())] == 1

    # django-prometheus's request metrics are on the same page.
    names = {name for name, _ in found}
    assert "django_http_requests_total_by_view_transport_method_total" in names
    responses = "django_http_responses_total_by_status_view_method_total"
    healthz = (("method", "GET"), ("status", "200"), ("view", "healthz"))
    assert found[(responses, healthz)] >= 1


def test_an_empty_platform_has_no_labelled_series_and_zero_counts(client):
    found = scrape(client)
    assert found[("smartpay_disputes_overdue", ())] == 0
    assert found[("smartpay_payouts_failed", ())] == 0
    assert not [name for name, labels in found if name.startswith("smartpay_escrow")]
    assert ("smartpay_reconciliation_ok", ()) not in found


def test_a_scrape_takes_the_same_few_queries_however_much_there_is(
    client, django_assert_max_num_queries
):
    funded_milestone()
    with django_assert_max_num_queries(8):
        scrape(client)
    busy_platform()
    funded_milestone((300_000,))
    overdue_dispute()
    failed_payout("metrics-failed-2")
    PeriodicRun.objects.create(name="escrow.reconcile", last_success_at=timezone.now())
    with django_assert_max_num_queries(8):
        found = scrape(client)
    assert found[("smartpay_disputes_overdue", ())] == 2
    assert found[("smartpay_payouts_failed", ())] == 2


def test_registering_again_adds_no_second_collector():
    register_business_metrics()
    register_business_metrics()
    page = generate_latest(REGISTRY).decode()
    assert page.count("# TYPE smartpay_escrow_held_minor_units gauge") == 1


# --- who may scrape -----------------------------------------------------------------


TOKEN = "metrics-" + secrets.token_hex(16)
PRODUCTION_LIKE = {"METRICS_ALLOWED_NETWORKS": [], "METRICS_TOKEN": TOKEN}


def refused(response) -> None:
    assert response.status_code == 403
    body = json.loads(response.content)
    assert body["code"] == "permission_denied"
    assert "bearer token" in body["detail"]
    assert b"smartpay_" not in response.content


def test_loopback_may_scrape_in_the_default_settings(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200


def test_another_address_is_refused_in_the_default_settings(client):
    refused(client.get("/metrics", REMOTE_ADDR="203.0.113.9"))
    refused(client.get("/metrics", REMOTE_ADDR="not-an-address"))


def test_the_token_is_accepted_from_anywhere(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_TOKEN = TOKEN
    found = scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ("smartpay_business_metrics_up", ()) in found
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, "Bearer wrong"],
    ids=["longer", "empty", "basic", "no-scheme", "wrong"],
)
def test_a_wrong_token_is_refused_even_from_an_allowed_network(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    refused(client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=authorization))


def test_anonymous_is_refused_under_production_like_settings(client, settings):
    for name, value in PRODUCTION_LIKE.items():
        setattr(settings, name, value)
    refused(client.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    refused(client.get("/metrics", REMOTE_ADDR="10.0.0.5"))


def test_without_a_token_configured_no_bearer_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer "))
    refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything"))


def test_an_allowed_network_lets_its_addresses_in(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "2001:db8::/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::7").status_code == 200
    refused(client.get("/metrics", REMOTE_ADDR="11.0.0.1"))
    refused(client.get("/metrics", REMOTE_ADDR="127.0.0.1"))


def test_only_get_is_served(client):
    assert client.post("/metrics").status_code == 405


def test_a_network_that_cannot_be_read_is_a_startup_error(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "office"]
    [error] = check_metrics_settings()
    assert error.id == "smartpay.E101"
    assert "'office'" in error.msg


SCRAPE_IN_PRODUCTION = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
# Behind the TLS proxy, as in production.
client = Client(HTTP_HOST="smartpay.example", HTTP_X_FORWARDED_PROTO="https", secure=True)
token = settings.METRICS_TOKEN
anonymous = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
with_token = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer " + token)
print(json.dumps({
    "networks": settings.METRICS_ALLOWED_NETWORKS,
    "anonymous": [anonymous.status_code, json.loads(anonymous.content)],
    "with_token": [with_token.status_code, with_token.content.decode()],
}))
"""


def test_production_settings_refuse_anonymous_loopback_scrapes(tmp_path):
    env = production_env(tmp_path, METRICS_TOKEN=TOKEN)
    result = run_python(SCRAPE_IN_PRODUCTION, env)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["networks"] == []
    assert outcome["anonymous"][0] == 403
    assert outcome["anonymous"][1]["code"] == "permission_denied"
    status, page = outcome["with_token"]
    assert status == 200
    # The child's database was never migrated: the figures can't be read, the page
    # still answers with the request metrics and says so.
    found = samples_of(page)
    assert found[("smartpay_business_metrics_up", ())] == 0
    assert "django_http_requests_total_by_view_transport_method_total" in {n for n, _ in found}
