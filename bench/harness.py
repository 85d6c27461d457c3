"""Benchmark harness: one real ASGI server, many timed endpoints, one table.

Each ``bench/bench_*.py`` defines ``cases(ctx) -> list[Case]``; ``ctx`` gives the
server URL and logged-in session cookies. Every case is measured against the same
server in the same run, so ratios against the ``ping`` baseline are comparable.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    cookies: dict[str, str] = field(default_factory=dict)
    requests: int = 2000
    concurrency: int = 4


@dataclass(frozen=True)
class Context:
    base_url: str
    env: dict[str, str]
    user_cookies: dict[str, str]


@dataclass(frozen=True)
class Result:
    case: Case
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="smartpay.settings",
        # The benchmark measures the stack, not the throttles.
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def python(env: dict[str, str], code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def login_cookie(env: dict[str, str]) -> dict[str, str]:
    """A real session for a bench user, made the way the login view makes one."""
    session_key = python(
        env,
        "import django; django.setup()\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from marketplace.models import User\n"
        "user, _ = User.objects.get_or_create(email='bench@example.test',"
        " defaults={'is_client': True, 'is_freelancer': True})\n"
        "s = SessionStore()\n"
        "s[SESSION_KEY] = str(user.pk)\n"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "s.create()\n"
        "print(s.session_key)\n",
    )
    return {"sessionid": session_key}


@contextmanager
def running_server(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "uvicorn"),
            "smartpay.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)


def measure(base_url: str, case: Case) -> Result:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_thread = case.requests // case.concurrency

    def worker() -> None:
        nonlocal errors
        own: list[float] = []
        failed = 0
        with httpx.Client(base_url=base_url, cookies=case.cookies, timeout=30) as client:
            for _ in range(20):  # warm-up: connections, caches
                client.get(case.path)
            for _ in range(per_thread):
                started = time.perf_counter()
                response = client.get(case.path)
                own.append(time.perf_counter() - started)
                failed += response.status_code != 200
        with lock:
            latencies.extend(own)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(case.concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    return Result(
        case,
        len(ordered) / elapsed,
        statistics.median(ordered) * 1000,
        pct(0.95),
        pct(0.99),
        errors,
    )


def print_table(results: list[Result], baseline: Result) -> None:
    header = (
        f"{'case':32} {'requests':>8} {'req/s':>9} {'ratio':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.case.name:32} {r.case.requests:>8} {r.rps:>9.0f} {r.rps / baseline.rps:>6.2f} "
            f"{r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6}"
        )


def prepare(data_dir: Path) -> dict[str, str]:
    env = server_env(data_dir)
    manage(env, "migrate", "--noinput", "-v0")
    return env


def temporary_data_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="smartpay-bench-")
