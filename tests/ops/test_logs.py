"""Logs: one JSON object per line (or a plain line) carrying the request id and origin,
for our loggers, Django's and Celery's; and a request's id carried into the tasks it
queues, through a real worker as well as eagerly."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets

import pytest
from django.core.exceptions import ImproperlyConfigured

from marketplace.models import Review
from marketplace.tasks import publish_due_reviews
from smartpay.celery import REQUEST_ID_HEADER
from smartpay.logs import JsonLineFormatter, OriginFilter, PlainFormatter, logging_config
from smartpay.models import AuditEntry
from smartpay.request_context import acting_from
from tests.factories import make_completed_contract
from tests.helpers import child_env, run_python
from tests.test_celery_worker import wait_for, worker

REQUEST_THEN_FAIL = """
import json, django
django.setup()
from django.test import Client, override_settings
with override_settings(ROOT_URLCONF="tests.ops.failing"):
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    response = client.get("/api/boom/", HTTP_X_REQUEST_ID="req-logs-7f3a")
print(json.dumps({"status": response.status_code, "request_id": response["X-Request-ID"]}))
"""


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    """A private logger with the project's filter and ``formatter`` on its handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OriginFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tests.logs.{secrets.token_hex(4)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def lines_of(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_names_time_level_logger_request_id_and_origin():
    logger, stream = capture(JsonLineFormatter())
    with acting_from("task:escrow.settle", request_id="req-9c1e"):
        logger.info("settled %d milestones", 3, extra={"contract_id": 41})
    logger.warning("outside any request")

    inside, outside = lines_of(stream)
    assert list(inside)[:6] == ["time", "level", "logger", "message", "request_id", "origin"]
    assert inside["time"].endswith("Z")
    assert inside["level"] == "INFO"
    assert inside["logger"] == logger.name
    assert inside["message"] == "settled 3 milestones"
    assert inside["request_id"] == "req-9c1e"
    assert inside["origin"] == "task:escrow.settle"
    assert inside["contract_id"] == 41
    assert outside["request_id"] == ""
    assert outside["origin"] == "system"


def test_an_exception_is_kept_in_the_same_line():
    logger, stream = capture(JsonLineFormatter())
    with acting_from("203.0.113.7", request_id="req-1"):
        prices: dict[str, int] = {}
        try:
            prices["missing"]
        except KeyError:
            logger.exception("lookup failed")

    assert len(stream.getvalue().splitlines()) == 1
    [line] = lines_of(stream)
    assert line["message"] == "lookup failed"
    assert line["request_id"] == "req-1"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in line["exception"]


def test_the_plain_line_shows_origin_and_request_id_when_there_is_one():
    logger, stream = capture(PlainFormatter())
    with acting_from("task:escrow.settle", request_id="req-9c1e"):
        logger.info("settled")
    logger.info("idle")

    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith(f"INFO {logger.name} [task:escrow.settle req-9c1e] settled")
    assert outside.endswith(f"INFO {logger.name} idle")


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be one of json, plain"):
        logging_config("xml", "INFO")


def test_every_line_of_a_failing_request_is_json_with_its_request_id(tmp_path):
    result = run_python(REQUEST_THEN_FAIL, child_env(tmp_path, LOG_FORMAT="json"))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer == {"status": 500, "request_id": "req-logs-7f3a"}

    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    ours = next(line for line in lines if line["logger"] == "tests.ops.failing")
    assert ours["message"] == "signing with the arbiter key"
    assert ours["request_id"] == "req-logs-7f3a"
    assert ours["origin"] == "127.0.0.1"
    # Django's own line about the 500, written after the middleware returned.
    django_line = next(line for line in lines if line["logger"] == "django.request")
    assert django_line["level"] == "ERROR"
    assert django_line["message"] == "Internal Server Error: /api/boom/"
    assert django_line["request_id"] == "req-logs-7f3a"
    assert "SigningFailed: signing failed" in django_line["exception"]


def test_plain_format_shows_the_request_id_on_each_line(tmp_path):
    result = run_python(REQUEST_THEN_FAIL, child_env(tmp_path, LOG_FORMAT="plain"))
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.splitlines() if "tests.ops.failing" in line]
    assert ours
    assert ours[0].endswith("[127.0.0.1 req-logs-7f3a] signing with the arbiter key")
    assert any(
        "ERROR django.request [127.0.0.1 req-logs-7f3a] Internal Server Error: /api/boom/" in line
        for line in result.stderr.splitlines()
    )


def test_a_wrong_log_format_stops_the_process_with_a_clear_message(tmp_path):
    result = run_python("import django; django.setup()", child_env(tmp_path, LOG_FORMAT="xml"))
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of json, plain, not 'xml'" in result.stderr


# --- the request id in Celery tasks ----------------------------------------------------


def blind_review() -> Review:
    contract = make_completed_contract(days_ago=20)
    return Review.objects.create(
        contract=contract, author=contract.client, subject=contract.freelancer, rating=5
    )


@pytest.mark.django_db
def test_a_task_applied_during_a_request_writes_that_request_id_to_the_audit_log():
    blind_review()
    with acting_from("203.0.113.7", request_id="req-from-the-page"):
        result = publish_due_reviews.apply()
    assert result.result == 1
    entry = AuditEntry.objects.get(action="review.published")
    assert entry.source == "task:marketplace.publish_due_reviews"
    assert entry.request_id == "req-from-the-page"


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
def test_a_task_queued_eagerly_during_a_request_carries_its_id():
    blind_review()
    with acting_from("203.0.113.7", request_id="req-queued-eagerly"):
        publish_due_reviews.delay()
    entry = AuditEntry.objects.get(action="review.published")
    assert entry.request_id == "req-queued-eagerly"
    assert entry.source == "task:marketplace.publish_due_reviews"


@pytest.mark.django_db
def test_a_task_takes_the_request_id_from_its_message_headers():
    blind_review()
    publish_due_reviews.apply(headers={REQUEST_ID_HEADER: "req-in-the-header"})
    entry = AuditEntry.objects.get(action="review.published")
    assert entry.request_id == "req-in-the-header"


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "has spaces", "x" * 65])
def test_a_scheduled_run_or_a_malformed_header_gets_a_fresh_request_id(header):
    blind_review()
    headers = {REQUEST_ID_HEADER: header} if header else None
    publish_due_reviews.apply(headers=headers)
    entry = AuditEntry.objects.get(action="review.published")
    assert len(entry.request_id) == 32
    assert int(entry.request_id, 16) >= 0


@pytest.mark.parametrize("broker", ["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_worker_logs_json_and_a_task_carries_the_id_of_the_request_that_sent_it(
    tmp_path, broker
):
    services = {"REDIS_URL": os.environ["REDIS_URL"]} if broker == "redis" else {}
    env = child_env(tmp_path, LOG_FORMAT="json", **services)
    log = tmp_path / "worker.log"
    send = (
        "import django; django.setup()\n"
        "from smartpay.request_context import acting_from\n"
        "from smartpay.tasks import ping\n"
        "with acting_from('203.0.113.7', request_id='req-sent-by-the-page'):\n"
        "    result = ping.delay('hello')\n"
        "print(result.id, result.get(timeout=60))\n"
    )
    with worker(env, log):
        sent = run_python(send, env, timeout=90)
        assert sent.returncode == 0, sent.stderr
        task_id, answer = sent.stdout.split()
        assert answer == "hello"
        assert wait_for(log, f"smartpay.ping[{task_id}] succeeded", 15), log.read_text()[-3000:]

    # Everything after the banner is one JSON object per line, Celery's lines included.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"].endswith(" ready.") for line in lines)
    [done] = [line for line in lines if "succeeded" in line["message"]]
    assert done["logger"] == "celery.app.trace"
    assert done["origin"] == "task:smartpay.ping"
    assert done["request_id"] == "req-sent-by-the-page"
