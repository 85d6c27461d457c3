"""Backups: a populated database survives backup, wipe and restore on both engines;
damaged, foreign and unconfirmed restores change nothing; retention keeps the right
ones; S3 (moto's server) works as the storage.

Both engines are covered in every run, whatever DATABASE_URL the suite uses: each
round trip runs in a child process on a scratch database of its own (a SQLite file
under a temporary DATA_DIR, or a PostgreSQL database created and dropped here). The
other tests run in this process on the suite's test database.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import environ
import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.template.defaultfilters import filesizeformat

from marketplace.models import User
from smartpay.backup_progress import StageProgress
from smartpay.backups import (
    BackupError,
    BackupInfo,
    create_backup,
    list_backups,
    prune_backups,
    restore_backup,
)
from smartpay.models import PeriodicRun
from smartpay.periodic import single_run
from smartpay.tasks_backups import back_up
from tests.factories import make_user
from tests.helpers import ROOT, child_env
from tests.s3 import S3Server, s3_server, s3_storage_settings  # noqa: F401 - fixture

ROUND_TRIP_TIMEOUT_SECONDS = 300
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


# --- the round trips: the suite's engine here, the other one in a child process ---------


SUITE_ENGINE = (
    "postgresql"
    if django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    else "sqlite"
)
OTHER_ENGINE = "sqlite" if SUITE_ENGINE == "postgresql" else "postgresql"


def _postgres_server_url() -> str:
    """The suite's PostgreSQL server when it uses one, else the local one CI starts."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES


def _admin_connection_args(server_url: str) -> list[str]:
    config = environ.Env.db_url_config(server_url)
    args = ["-h", str(config.get("HOST") or "127.0.0.1"), "-U", str(config.get("USER") or "")]
    return [*args, "-p", str(config.get("PORT") or 5432)]


class ChildRoundTrip:
    """The round trip on the engine the suite is not using, in a process of its own
    (DATA_DIR in a temporary folder; for PostgreSQL a scratch database on the server).
    It starts at once and is collected when a test needs its result, so its minute of
    migrating and seeding overlaps the tests that run here meanwhile."""

    def __init__(self, engine: str, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.server_url = _postgres_server_url()
        self.database = ""
        env: dict[str, str] = {}
        if engine == "postgresql":
            self.database = f"sp_bk_{uuid.uuid4().hex[:10]}"
            admin = _admin_connection_args(self.server_url)
            subprocess.run(["createdb", *admin, self.database], check=True, timeout=30)
            env["DATABASE_URL"] = f"{self.server_url.rsplit('/', 1)[0]}/{self.database}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.ops.backup_child"],
            cwd=ROOT,
            env=child_env(data_dir, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._result: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        if self._result is None:
            out, err = self.process.communicate(timeout=ROUND_TRIP_TIMEOUT_SECONDS)
            assert self.process.returncode == 0, err[-4000:]
            line = next(line for line in out.splitlines() if line.startswith("ROUND-TRIP "))
            self._result = json.loads(line.removeprefix("ROUND-TRIP "))
        return self._result

    @property
    def backups_dir(self) -> Path:
        self.result()
        return self.data_dir / "backups"

    def clean_up(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        if self.database:
            admin = _admin_connection_args(self.server_url)
            subprocess.run(
                ["dropdb", *admin, "--if-exists", "--force", self.database],
                check=False,
                capture_output=True,
                timeout=30,
            )


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ChildRoundTrip]]:
    """Both engines' round trips, each in its own process and database (never the
    suite's test database, whose reference rows an earlier test's flush may have
    removed), started together on first use."""
    children = {
        engine: ChildRoundTrip(engine, tmp_path_factory.mktemp(f"backup-{engine}"))
        for engine in ("postgresql", "sqlite")
    }
    try:
        yield children
    finally:
        for child in children.values():
            child.clean_up()


@pytest.fixture(scope="module")
def other_engine(round_trips: dict[str, ChildRoundTrip]) -> ChildRoundTrip:
    return round_trips[OTHER_ENGINE]


def _assert_identical_after_restore(result: dict[str, Any]) -> None:
    before, wiped, after = result["before"], result["wiped"], result["after"]
    # Populated: the demo's users, contracts and money, with non-zero ledger balances.
    assert before["rows"]["marketplace_user"] >= 5
    assert before["rows"]["marketplace_contract"] >= 1
    assert result["transfers"] >= 3
    assert any(int(balance) != 0 for balance in before["balances"].values())
    # Wiped for real, then back exactly: every table's rows and every balance.
    assert wiped["rows"]["marketplace_user"] == 0
    assert wiped["balances"] == {}
    assert after["rows"] == before["rows"]
    assert after["balances"] == before["balances"]
    assert result["users_seen_elsewhere"] == before["rows"]["marketplace_user"]
    # The same tables: one created after the backup is gone.
    assert "added_after_backup" not in result["tables"]
    assert result["tables_after"] == result["tables"]


def _assert_round_trip(result: dict[str, Any], engine: str) -> None:
    assert result["engine"] == engine
    _assert_identical_after_restore(result)
    # Progress was shown, as plain lines: the output is not a terminal.
    first_stage = "dump" if engine == "postgresql" else "copy"
    assert f"{first_stage}: started" in result["backup_output"]
    assert "upload: started" in result["backup_output"]
    last_stage = "pg_restore: 1 of 1 steps" if engine == "postgresql" else "restore: started"
    assert last_stage in result["restore_output"]
    assert "Restored smartpay-" in result["restore_output"]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_backup_wipe_restore_gives_identical_rows_and_balances(
    round_trips: dict[str, ChildRoundTrip], engine: str
):
    _assert_round_trip(round_trips[engine].result(), engine)


# --- in this process, against the suite's test database --------------------------------


@pytest.fixture
def backups_dir(settings, tmp_path) -> Path:
    """The backups storage is a fresh folder for each test."""
    folder = tmp_path / "backups"
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    return folder


def _emails() -> list[str]:
    return sorted(User.objects.values_list("email", flat=True))


@pytest.mark.django_db(transaction=True)
def test_tampered_backup_is_refused_and_the_database_is_untouched(backups_dir):
    make_user(email="kept@example.test")
    info = create_backup()
    stored = backups_dir / info.name
    damaged = bytearray(stored.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    stored.write_bytes(bytes(damaged))
    make_user(email="added-after-backup@example.test")

    with pytest.raises(BackupError, match="does not match its checksum"):
        restore_backup(info.name)

    assert _emails() == ["added-after-backup@example.test", "kept@example.test"]


@pytest.mark.django_db(transaction=True)
def test_restore_asks_for_the_backup_name_and_refuses_a_wrong_answer(backups_dir, monkeypatch):
    make_user(email="kept@example.test")
    info = create_backup()
    make_user(email="added-after-backup@example.test")

    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="Confirmation did not match; nothing was restored"):
        call_command("restore", info.name, stdout=out, stderr=io.StringIO())
    assert "This replaces EVERYTHING in the database" in out.getvalue()
    assert _emails() == ["added-after-backup@example.test", "kept@example.test"]

    # The right name restores: the later user is gone, the earlier one is back as it was.
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{info.name}\n"))
    call_command("restore", "latest", stdout=out, stderr=io.StringIO())
    assert f"Restored {info.name}" in out.getvalue()
    assert _emails() == ["kept@example.test"]


def test_restore_of_an_unknown_name_says_so(backups_dir):
    with pytest.raises(CommandError, match="no complete backup named"):
        call_command("restore", "smartpay-20200101T000000Z.pgdump", "--yes")
    with pytest.raises(CommandError, match="is not a backup name"):
        call_command("restore", "../../etc/passwd", "--yes")


@pytest.mark.django_db(transaction=True)
def test_backup_command_lists_prunes_and_shows_progress(backups_dir, settings):
    make_user()
    out, err = io.StringIO(), io.StringIO()
    call_command("backup", stdout=out, stderr=err)
    [info] = list_backups()
    assert f"Backup {info.name} stored" in out.getvalue()
    # Not a terminal: plain lines per stage, ending with the full count.
    assert "upload: started" in err.getvalue()
    assert f"upload: {info.size} of {info.size} bytes" in err.getvalue()
    manifest = json.loads((backups_dir / f"{info.name}.json").read_text())
    assert manifest["engine"] == connection.vendor
    assert manifest["sha256"] == info.sha256
    assert manifest["size"] == (backups_dir / info.name).stat().st_size
    assert manifest["migrations"]["escrow"].startswith("00")

    listing = io.StringIO()
    call_command("backup", "--list", stdout=listing)
    assert info.name in listing.getvalue()
    assert info.sha256 in listing.getvalue()

    settings.BACKUP_KEEP_DAILY = 1
    settings.BACKUP_KEEP_WEEKLY = 1
    pruned = io.StringIO()
    call_command("backup", "--prune", stdout=pruned, stderr=io.StringIO())
    # Both backups are from today: only the newer one stays.
    assert f"Deleted {info.name}" in pruned.getvalue()
    [newer] = list_backups()
    assert newer.name > info.name


def test_progress_on_a_terminal_draws_a_bar():
    screen = io.StringIO()
    progress = StageProgress(screen, interactive=True)
    for done in range(0, 101, 10):
        progress("copy", done, 100)
    progress("upload", 2048, 2048)
    progress.close()
    assert "Copy" in screen.getvalue()
    assert "100/100" in screen.getvalue()
    assert "Upload" in screen.getvalue()
    assert "100%" in screen.getvalue()


@pytest.mark.django_db(transaction=True)
def test_nightly_task_backs_up_prunes_and_records_its_run(backups_dir):
    make_user()
    summary = back_up()
    [info] = list_backups()
    assert summary == f"stored {info.name} ({_size(info.size)}), pruned 0"
    run = PeriodicRun.objects.get(name="smartpay-backup")
    assert run.last_summary == summary
    assert run.last_success_at is not None


@pytest.mark.django_db(transaction=True)
def test_nightly_task_started_while_another_run_holds_the_lock_stores_nothing(backups_dir):
    with single_run("smartpay-backup", 60) as acquired:
        assert acquired
        assert back_up() is None
    assert list_backups() == []
    assert PeriodicRun.objects.get(name="smartpay-backup").skipped_overlaps == 1


def _size(size: int) -> str:
    return str(filesizeformat(size))


# --- retention -------------------------------------------------------------------------


def _store_fake_backup(at: datetime) -> str:
    """A stored backup dated ``at``: retention reads only names and manifests."""
    name = f"smartpay-{at:%Y%m%dT%H%M%SZ}.pgdump"
    info = BackupInfo(name=name, engine="postgresql", created_at=at, size=1, sha256="0" * 64)
    storage = storages["backups"]
    storage.save(name, ContentFile(b"x"))
    storage.save(f"{name}.json", ContentFile(json.dumps(info.manifest()).encode()))
    return name


def _stamp(day: str, hour: int = 2) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=30, tzinfo=UTC)


def test_retention_keeps_newest_per_day_and_per_iso_week(backups_dir, settings):
    settings.BACKUP_KEEP_DAILY = 3
    settings.BACKUP_KEEP_WEEKLY = 3
    # Thursday 26 Nov 2026 is in ISO week 48; week 47 is 16-22 Nov, week 46 is 9-15 Nov.
    dates = [
        _stamp("2026-11-26", 2),
        _stamp("2026-11-26", 1),  # older of the same day
        _stamp("2026-11-25"),
        _stamp("2026-11-24"),
        _stamp("2026-11-23"),  # Monday of week 48, beyond the three days
        _stamp("2026-11-22", 3),  # Sunday, newest of week 47
        _stamp("2026-11-20"),
        _stamp("2026-11-15"),  # newest of week 46
        _stamp("2026-11-10"),
        _stamp("2026-11-01"),  # week 44: beyond three weeks
    ]
    names = {at: _store_fake_backup(at) for at in dates}
    future = _store_fake_backup(_stamp("2026-12-01"))  # a clock that ran ahead

    deleted = prune_backups(now=_stamp("2026-11-26", 12))

    kept = [
        names[_stamp("2026-11-26", 2)],
        names[_stamp("2026-11-25")],
        names[_stamp("2026-11-24")],
        names[_stamp("2026-11-22", 3)],
        names[_stamp("2026-11-15")],
    ]
    assert sorted(deleted) == sorted(set(names.values()) - set(kept))
    assert [info.name for info in list_backups()] == sorted([*kept, future])
    assert sorted(os.listdir(backups_dir)) == sorted(
        [*kept, future, *(f"{name}.json" for name in [*kept, future])]
    )


def test_retention_never_deletes_the_newest_backup(backups_dir, settings):
    settings.BACKUP_KEEP_DAILY = 0
    settings.BACKUP_KEEP_WEEKLY = 0
    older = _store_fake_backup(_stamp("2026-11-20"))
    newest = _store_fake_backup(_stamp("2026-11-21"))
    assert prune_backups(now=_stamp("2026-11-26")) == [older]
    assert [info.name for info in list_backups()] == [newest]
    assert prune_backups(now=_stamp("2026-11-26") + timedelta(days=30)) == []


# --- S3 ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backup_goes_to_s3_and_restores_from_it(settings, s3_server: S3Server):  # noqa: F811
    prefix = f"backups-{uuid.uuid4().hex[:12]}"
    backups = s3_storage_settings(s3_server, prefix)
    # As settings.py configures it: a retried upload of the same name replaces the object.
    backups["OPTIONS"] = {**backups["OPTIONS"], "file_overwrite": True}
    settings.STORAGES = {**settings.STORAGES, "backups": backups}
    make_user(email="kept@example.test")

    info = create_backup()
    make_user(email="added-after-backup@example.test")

    client = s3_server.client()
    listing = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix)
    keys = sorted(item["Key"] for item in listing["Contents"])
    assert keys == [f"{prefix}/{info.name}", f"{prefix}/{info.name}.json"]
    body = client.get_object(Bucket=s3_server.bucket, Key=f"{prefix}/{info.name}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == info.sha256
    assert [backup.name for backup in list_backups()] == [info.name]

    restore_backup("latest")
    assert _emails() == ["kept@example.test"]
    for key in keys:
        client.delete_object(Bucket=s3_server.bucket, Key=key)


# --- the other engine's backups -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backup_from_the_other_engine_is_refused(backups_dir, other_engine):
    other = other_engine.engine
    source = other_engine.backups_dir
    backups_dir.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        shutil.copy(path, backups_dir / path.name)
    [foreign] = list_backups()
    assert foreign.engine == other
    make_user(email="kept@example.test")

    with pytest.raises(CommandError, match=f"is a {other} backup; this database is"):
        call_command("restore", foreign.name, "--yes", stdout=io.StringIO())
    # `latest` means the newest backup of this database's engine: there is none.
    with pytest.raises(CommandError, match=f"no {connection.vendor} backup"):
        call_command("restore", "latest", "--yes", stdout=io.StringIO())
    assert _emails() == ["kept@example.test"]


# Last: by now the child has had the whole module's time to finish.
def test_backup_wipe_restore_on_the_other_engine_gives_identical_rows_and_balances(
    other_engine,
):
    _assert_round_trip(other_engine.result(), OTHER_ENGINE)
