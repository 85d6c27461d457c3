"""A real Celery worker (and beat) runs tasks through the configured broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import ROOT, child_env, manage, run_python

CELERY = str(Path(sys.executable).with_name("celery"))


@contextmanager
def worker(env: dict[str, str], log: Path, *extra: str) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "smartpay",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for(log: Path, text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text():
            return True
        time.sleep(0.2)
    return False


def round_trip(env: dict[str, str]) -> str:
    token = f"hello-{uuid.uuid4().hex}"
    code = (
        "import django; django.setup()\n"
        "from smartpay.tasks import ping\n"
        f"print(ping.delay({token!r}).get(timeout=60))\n"
    )
    result = run_python(code, env, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == token
    return token


def test_worker_runs_a_task_through_the_embedded_broker(tmp_path):
    env = child_env(tmp_path)
    log = tmp_path / "worker.log"
    with worker(env, log):
        round_trip(env)
    assert "sqla+sqlite" in log.read_text()
    assert "smartpay.ping" in log.read_text()


@pytest.mark.redis
def test_worker_runs_a_task_through_redis(tmp_path):
    env = child_env(tmp_path, REDIS_URL=os.environ["REDIS_URL"])
    log = tmp_path / "worker.log"
    with worker(env, log):
        round_trip(env)
    assert "redis://" in log.read_text()


def test_embedded_beat_sends_scheduled_tasks_the_worker_runs(tmp_path):
    env = child_env(tmp_path)
    migrated = manage("migrate", "--noinput", "-v0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    schedule = (
        "import django; django.setup()\n"
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask\n"
        "every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)\n"
        "PeriodicTask.objects.create(name='ping', task='smartpay.ping', interval=every)\n"
    )
    assert run_python(schedule, env).returncode == 0
    log = tmp_path / "worker.log"
    with worker(env, log, "--beat", "--schedule", str(tmp_path / "beat-schedule")):
        assert wait_for(log, "Task smartpay.ping", 45), log.read_text()[-3000:]
        assert wait_for(log, "succeeded", 15), log.read_text()[-3000:]
    check = run_python(
        "import django; django.setup()\n"
        "from django_celery_beat.models import PeriodicTask\n"
        "print(PeriodicTask.objects.get(name='ping').total_run_count)\n",
        env,
    )
    assert int(check.stdout) >= 1
