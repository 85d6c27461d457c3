"""A real S3 API for tests: moto's server on a free local port, reached over HTTP.

``s3_server`` (session) starts ``moto_server`` as a subprocess, waits until it answers,
creates a bucket with boto3 and stops the server at the end. ``s3_storage`` (per test)
switches Django's default storage to django-storages' ``S3Storage`` pointing at it,
under a prefix of its own, so each test sees only the objects it wrote.

Overriding ``STORAGES`` through pytest-django's ``settings`` fires ``setting_changed``;
Django's own receiver (``django.test.signals.storages_changed``) then empties the
``storages`` handler's cache and resets ``default_storage`` (a ``LazyObject`` that every
``FileField`` without its own storage holds), so the next file saved or opened goes to
S3, and back to the file system when the override is undone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.files.storage import default_storage
from storages.backends.s3 import S3Storage

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # moto accepts any credentials; these are not secrets
BUCKET = "smartpay-test-media"
START_TIMEOUT_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _moto_server_command() -> list[str]:
    """The ``moto_server`` script next to this interpreter (the project's virtualenv)."""
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]>=5,<6'")
    return [found]


def _wait_until_up(process: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"moto_server exited with {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answers; the status does not matter
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {endpoint} in {START_TIMEOUT_SECONDS} s")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )


@dataclass(frozen=True)
class S3Media:
    """The bucket prefix one test's default storage writes under."""

    server: S3Server
    prefix: str

    @property
    def bucket(self) -> str:
        return self.server.bucket

    def key(self, stored_name: str) -> str:
        """The object key of a ``FileField`` value's name."""
        return f"{self.prefix}/{stored_name}"

    def object_keys(self) -> list[str]:
        """Every object key under this test's prefix, in order."""
        listing = self.server.client().list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, stored_name: str) -> bytes:
        """An object's bytes, fetched with boto3 (not through Django's storage)."""
        got = self.server.client().get_object(Bucket=self.bucket, Key=self.key(stored_name))
        return bytes(got["Body"].read())

    def sha256(self, stored_name: str) -> str:
        return hashlib.sha256(self.read(stored_name)).hexdigest()

    def delete(self, stored_name: str) -> None:
        self.server.client().delete_object(Bucket=self.bucket, Key=self.key(stored_name))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 with one bucket, for the whole test session.
    Its request log goes to a file (a pipe nobody reads would fill up and stall it)."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*_moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_up(process, endpoint, log)
        server = S3Server(endpoint_url=endpoint, bucket=BUCKET)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def s3_storage_settings(server: S3Server, prefix: str) -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry for the moto bucket, as production configures S3."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": server.bucket,
            "endpoint_url": server.endpoint_url,
            "region_name": REGION,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "addressing_style": "path",
            "location": prefix,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }


@pytest.fixture
def s3_storage(settings: Any, s3_server: S3Server) -> Iterator[S3Media]:
    """Django's default storage is S3 (moto) for this test, under a prefix of its own."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_settings(s3_server, prefix)}
    media = S3Media(server=s3_server, prefix=prefix)
    # default_storage proxies isinstance() to the backend it builds from the new setting.
    assert isinstance(default_storage, S3Storage), type(default_storage).__name__
    yield media
    client = s3_server.client()
    for key in media.object_keys():
        client.delete_object(Bucket=s3_server.bucket, Key=key)
