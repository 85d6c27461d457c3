"""The whole product running as it does in production, for browser journeys: an ASGI
server (uvicorn) and a Celery worker, each its own process, on a database of their own.

With ``DATABASE_URL`` set (CI), that database is a fresh PostgreSQL database on the same
server, created here and dropped afterwards; without it, a SQLite file in a temporary
``DATA_DIR``. With ``REDIS_URL`` set, Redis (a database number of the stack's own) carries
the channel layer, the cache and the Celery broker; without it the server keeps an
in-memory channel layer and Celery uses the embedded SQLite broker. The sandbox card
provider delivers its signed events to ``SITE_URL`` (the server) through the worker;
e-mail lands as files in ``mail/``, where journeys read verification links.

Journeys share one stack per session: starting it (migrations included) is the slow
part, and each journey makes its own people, so they do not see each other.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The stack's own Redis database number (CI's suite uses another on the same server).
REDIS_DB = int(os.environ.get("E2E_REDIS_DB", "15"))
START_SECONDS = 90
# Variables of the outer environment that would point the stack at someone else's
# services or change what the journeys see.
DROPPED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "EMAIL_URL",
    "SITE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "AWS_STORAGE_BUCKET_NAME",
    "CHAIN_RPC_URL",
    "SENTRY_DSN",
    "HTTPS",
    "DEBUG",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveStack:
    """A running server and worker; ``url`` is where the browser goes."""

    url: str
    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    own_database: str = ""  # a PostgreSQL database made for the stack, dropped on close

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def log_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def run_python(self, code: str, timeout: float = 120) -> str:
        """Run ``code`` in a fresh process with Django set up on the stack's database
        (as a shell or a management command on the server would); its stdout."""
        script = "import django\ndjango.setup()\n" + code
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{code}\n--- stderr\n{result.stderr[-4000:]}"
        return result.stdout

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"manage.py {args}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def mails_to(self, address: str) -> list[Message]:
        """Every message the stack has sent to ``address``, oldest first."""
        found = []
        for path in sorted(self.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime):
            # The file backend appends each message followed by a line of dashes.
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    message = message_from_bytes(chunk.strip())
                    if address in (message["To"] or ""):
                        found.append(message)
        return found

    def link_in_mail(self, address: str, pattern: str, wait: float = 20) -> str:
        """The first URL matching ``pattern`` in the latest mail to ``address``, once the
        mail has arrived (sending can be a task on the worker)."""
        deadline = time.monotonic() + wait
        while True:
            for message in reversed(self.mails_to(address)):
                match = re.search(pattern, _text_of(message))
                if match:
                    return match.group(0)
            assert time.monotonic() < deadline, f"no mail to {address} with {pattern!r}"
            time.sleep(0.2)

    def log_tail(self, lines: int = 60) -> str:
        parts = []
        for name in self.processes:
            path = self.log_path(name)
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} ({path})\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def start(self, name: str, command: list[str]) -> None:
        log = self.log_path(name).open("ab")
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            for name, process in self.processes.items():
                assert process.poll() is None, f"{name} exited\n{self.log_tail()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the stack did not start\n{self.log_tail()}"
            time.sleep(0.25)

    def close(self) -> None:
        """Stop server and worker and drop the stack's own database; twice is harmless."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self.own_database:
            _drop_postgres_database(self.own_database)
            self.own_database = ""


def _text_of(message: Message) -> str:
    """The plain-text parts of ``message`` (where the links are written out)."""
    texts = []
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if part.get_content_type() == "text/plain" and isinstance(payload, bytes):
            texts.append(payload.decode(errors="replace"))
    return "\n".join(texts)


def _postgres_admin(url: str) -> str:
    """The same server's maintenance database, for CREATE / DROP DATABASE."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def _create_postgres_database(url: str) -> str:
    import psycopg

    name = f"sp_e2e_{secrets.token_hex(4)}"
    with psycopg.connect(_postgres_admin(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _drop_postgres_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_postgres_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stack_redis(url: str) -> str:
    import redis

    own = urlunsplit(urlsplit(url)._replace(path=f"/{REDIS_DB}"))
    redis.Redis.from_url(own).flushdb()  # no tasks or channel messages from an earlier run
    return own


def stack_environment(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.e2e.live_settings",
        DATA_DIR=str(data_dir),
        SECRET_KEY=secrets.token_urlsafe(50),
        SITE_URL=url,
        EMAIL_URL=f"filemail:///{data_dir / 'mail'}",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="plain",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_stack(data_dir: Path) -> LiveStack:
    """Make the stack's database, migrate it, start server and worker, wait for /readyz."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack = LiveStack(url=url, data_dir=data_dir, env=stack_environment(data_dir, url))
    if os.environ.get("DATABASE_URL"):
        stack.own_database = _create_postgres_database(os.environ["DATABASE_URL"])
        stack.env["DATABASE_URL"] = stack.own_database
    if os.environ.get("REDIS_URL"):
        stack.env["REDIS_URL"] = _stack_redis(os.environ["REDIS_URL"])
    try:
        stack.manage("migrate", "--noinput", "-v0", timeout=300)
        uvicorn = ["uvicorn", "smartpay.asgi:application", "--host", "127.0.0.1"]
        quiet = ["--log-level", "warning", "--no-access-log"]
        stack.start("server", [sys.executable, "-m", *uvicorn, "--port", str(port), *quiet])
        celery = ["celery", "-A", "smartpay", "worker", "--pool=solo", "--loglevel=WARNING"]
        stack.start(
            "worker", [sys.executable, "-m", *celery, "--without-mingle", "--without-gossip"]
        )
        stack.wait_ready()
    except BaseException:
        stack.close()
        raise
    (data_dir / "env.json").write_text(json.dumps(stack.env))
    return stack


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The stack, shared by every journey of the session (conftest.py closes it after
    the last test that uses it, so it does not idle through the rest of the suite)."""
    running = os.environ.get("E2E_STACK_ENV")
    if running:  # while writing a journey: a stack left running, described by its env.json
        env = json.loads(Path(running).read_text())
        yield LiveStack(url=env["SITE_URL"], data_dir=Path(env["DATA_DIR"]), env=env)
        return
    stack = start_stack(tmp_path_factory.mktemp("live-stack"))
    try:
        yield stack
    finally:
        stack.close()


if __name__ == "__main__":
    # While writing a journey: `python -m tests.e2e.live_stack` starts a stack and keeps
    # it up; `E2E_STACK_ENV=<the env.json it prints> pytest tests/e2e/...` reuses it.
    import tempfile

    running = start_stack(Path(tempfile.mkdtemp(prefix="live-stack-")))
    print(f"{running.url}\nE2E_STACK_ENV={running.data_dir / 'env.json'}", flush=True)
    try:
        while all(process.poll() is None for process in running.processes.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        running.close()
