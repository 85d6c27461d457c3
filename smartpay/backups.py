"""Database backups: create, list, restore and prune, on the "backups" storage.

A backup is two objects side by side in ``storages["backups"]`` (a folder under DATA_DIR,
or S3 in production): the dump itself, named by its UTC creation time so names sort in
time order (``smartpay-20261126T041500Z.pgdump`` / ``.sqlite3.gz``), and a JSON manifest
next to it (``<name>.json``) holding the engine, size and SHA-256. The manifest is written
last, so a backup exists only once its manifest does: a run that dies mid-upload leaves
nothing that ``list_backups`` or ``restore_backup`` would trust.

Restore downloads the dump, checks its SHA-256 against the manifest and its engine against
the running database before anything in the database changes. The engine-specific work
(``pg_dump`` / ``pg_restore``, SQLite's online backup API) lives in ``backup_engines``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from smartpay import backup_engines
from smartpay.backup_engines import CHUNK_SIZE, BackupError, Progress, no_progress

__all__ = [
    "BackupError",
    "BackupInfo",
    "Progress",
    "create_backup",
    "get_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
]

log = logging.getLogger(__name__)

PREFIX = "smartpay-"
MANIFEST_SUFFIX = ".json"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
NAME_PATTERN = re.compile(r"^smartpay-(?P<stamp>\d{8}T\d{6}Z)(?P<ext>\.pgdump|\.sqlite3\.gz)$")
EXTENSIONS = {"postgresql": ".pgdump", "sqlite": ".sqlite3.gz"}
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class BackupInfo:
    """One stored backup, as its manifest describes it."""

    name: str
    engine: str
    created_at: datetime
    size: int
    sha256: str
    migrations: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return {"format": MANIFEST_FORMAT, **data}

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> BackupInfo:
        return cls(
            name=str(data["name"]),
            engine=str(data["engine"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            migrations=dict(data.get("migrations") or {}),
        )


def backup_storage() -> Storage:
    """Looked up on every call: tests and settings overrides swap the backend."""
    return storages["backups"]


# --- create ---------------------------------------------------------------------------


def create_backup(*, progress: Progress | None = None) -> BackupInfo:
    """Dump the default database to a temporary file, upload it with its manifest and
    return what was stored. Large dumps never sit in memory: every step streams."""
    report = progress or no_progress
    engine = backup_engines.engine_of(connections[DEFAULT_DB_ALIAS])
    storage = backup_storage()
    created_at, name = _free_name(storage, engine)
    with tempfile.TemporaryDirectory(prefix="smartpay-backup-") as work:
        dump = Path(work) / name
        settings_dict = connections[DEFAULT_DB_ALIAS].settings_dict
        if engine == "postgresql":
            sha256 = backup_engines.dump_postgres(settings_dict, dump, report)
        else:
            sha256 = backup_engines.dump_sqlite(settings_dict, dump, Path(work), report)
        info = BackupInfo(
            name=name,
            engine=engine,
            created_at=created_at,
            size=dump.stat().st_size,
            sha256=sha256,
            migrations=_migration_heads(),
        )
        _upload(storage, dump, info, report)
    return info


def _free_name(storage: Storage, engine: str) -> tuple[datetime, str]:
    """A name from the current second that no stored backup has. Two backups in one
    second wait for the next one rather than invent a suffix that breaks the ordering."""
    while True:
        created_at = timezone.now().astimezone(UTC).replace(microsecond=0)
        name = f"{PREFIX}{created_at.strftime(STAMP_FORMAT)}{EXTENSIONS[engine]}"
        if not storage.exists(name) and not storage.exists(name + MANIFEST_SUFFIX):
            return created_at, name
        time.sleep(1.05 - timezone.now().microsecond / 1_000_000)


def _migration_heads() -> dict[str, str]:
    """The last applied migration of each app: tells a restorer which code fits the dump."""
    heads: dict[str, str] = {}
    applied = MigrationRecorder(connections[DEFAULT_DB_ALIAS]).applied_migrations()
    for app_label, migration in sorted(applied):
        heads[app_label] = max(heads.get(app_label, ""), migration)
    return heads


def _upload(storage: Storage, dump: Path, info: BackupInfo, report: Progress) -> None:
    """The dump first, the manifest last; a failure removes whatever this run stored."""
    written: list[str] = []
    try:
        with dump.open("rb") as raw:
            reader = _CountingReader(raw, lambda done: report("upload", done, info.size))
            report("upload", 0, info.size)
            written.append(storage.save(info.name, File(cast(IO[bytes], reader), name=info.name)))
        manifest = json.dumps(info.manifest(), indent=2, sort_keys=True).encode()
        written.append(storage.save(info.name + MANIFEST_SUFFIX, ContentFile(manifest)))
        if written != [info.name, info.name + MANIFEST_SUFFIX]:
            # Another backup took the name meanwhile and the storage picked another one.
            raise BackupError(f"The storage stored {info.name} as {', '.join(written)}.")
    except BaseException:
        for name in written:
            _delete_quietly(storage, name)
        raise


class _CountingReader:
    """A file wrapper that reports how many bytes the storage backend has read."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._on_read(self._raw.tell())
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed


def _delete_quietly(storage: Storage, name: str) -> None:
    """Cleanup after a failure must not hide that failure."""
    try:
        storage.delete(name)
    except Exception:
        log.warning("Could not remove %s after a failed backup", name, exc_info=True)


# --- list -----------------------------------------------------------------------------


def list_backups() -> list[BackupInfo]:
    """Every complete backup (one with a manifest), oldest first."""
    storage = backup_storage()
    return [_read_manifest(storage, name) for name in _stored_backup_names(storage)]


def _stored_backup_names(storage: Storage) -> list[str]:
    try:
        _dirs, files = storage.listdir("")
    except FileNotFoundError:  # the folder appears with the first backup
        return []
    present = set(files)
    names = [
        name[: -len(MANIFEST_SUFFIX)]
        for name in files
        if name.endswith(MANIFEST_SUFFIX) and NAME_PATTERN.match(name[: -len(MANIFEST_SUFFIX)])
    ]
    return sorted(name for name in names if name in present)


def _read_manifest(storage: Storage, name: str) -> BackupInfo:
    try:
        with storage.open(name + MANIFEST_SUFFIX, "rb") as handle:
            data = json.loads(handle.read())
        info = BackupInfo.from_manifest(data)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BackupError(f"The manifest of {name} is missing or unreadable: {error}") from error
    if info.name != name:
        raise BackupError(f"The manifest next to {name} describes {info.name}.")
    return info


def get_backup(name: str) -> BackupInfo:
    """A stored backup by name; ``latest`` is the newest one made from this database's
    engine (a PostgreSQL deployment ignores old SQLite backups)."""
    storage = backup_storage()
    if name == "latest":
        engine = backup_engines.engine_of(connections[DEFAULT_DB_ALIAS])
        mine = [info for info in list_backups() if info.engine == engine]
        if not mine:
            raise BackupError(f"There is no {engine} backup to restore.")
        return mine[-1]
    if not NAME_PATTERN.match(name):
        raise BackupError(
            f"{name!r} is not a backup name (expected e.g. smartpay-20261126T041500Z.pgdump)."
        )
    if not storage.exists(name) or not storage.exists(name + MANIFEST_SUFFIX):
        raise BackupError(f"There is no complete backup named {name}.")
    return _read_manifest(storage, name)


# --- restore --------------------------------------------------------------------------


def restore_backup(name: str, *, progress: Progress | None = None) -> BackupInfo:
    """Replace the default database's contents with a stored backup.

    Checks come first and change nothing: the backup's engine must be this database's,
    and the downloaded bytes must match the manifest's SHA-256. Then Django's connections
    are closed (so none holds a lock or a stale view across the swap) and the engine
    restores in one step that either completes or leaves the database as it was.
    Afterwards the database holds exactly the backup: on PostgreSQL, tables the backup
    does not have (from a newer migration) are dropped; SQLite copies the whole file.
    """
    report = progress or no_progress
    info = get_backup(name)
    connection = connections[DEFAULT_DB_ALIAS]
    engine = backup_engines.engine_of(connection)
    if info.engine != engine:
        raise BackupError(
            f"{info.name} is a {info.engine} backup; this database is {engine}. "
            "Restore it into a deployment that runs on the same engine."
        )
    with tempfile.TemporaryDirectory(prefix="smartpay-restore-") as work:
        local = Path(work) / info.name
        _download_verified(backup_storage(), info, local, report)
        settings_dict = dict(connection.settings_dict)
        if engine == "postgresql":
            tables = backup_engines.check_postgres_archive(local)
            connections.close_all()
            backup_engines.restore_postgres(settings_dict, local, report)
            for table in backup_engines.drop_tables_not_in(connection, tables):
                log.warning("Dropped table %s: %s does not have it", table, info.name)
        else:
            database = backup_engines.unpack_sqlite(local, Path(work), report)
            connections.close_all()
            backup_engines.restore_sqlite(settings_dict, database, report)
    return info


def _download_verified(storage: Storage, info: BackupInfo, local: Path, report: Progress) -> None:
    digest = hashlib.sha256()
    done = 0
    report("download", 0, info.size)
    with storage.open(info.name, "rb") as source, local.open("wb") as target:
        for chunk in _chunks(source):
            digest.update(chunk)
            target.write(chunk)
            done += len(chunk)
            report("download", done, info.size)
    if digest.hexdigest() != info.sha256:
        raise BackupError(
            f"{info.name} does not match its checksum (sha256 {digest.hexdigest()}, "
            f"manifest {info.sha256}): the file is damaged or was changed. Nothing was restored."
        )


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(CHUNK_SIZE):
        yield chunk


# --- prune ----------------------------------------------------------------------------


def prune_backups(*, now: datetime | None = None) -> list[str]:
    """Delete the backups the retention policy does not keep; return their names.

    Kept: the newest backup of each of the newest ``BACKUP_KEEP_DAILY`` days that have a
    backup, the newest of each of the newest ``BACKUP_KEEP_WEEKLY`` ISO weeks, and always
    the newest backup of all. Backups dated after ``now`` (a clock that ran ahead) are
    neither counted nor deleted. Days and weeks are counted among backups, not on the
    calendar, so a stretch of failed nights does not age out the last good ones.
    """
    storage = backup_storage()
    moment = now or timezone.now()
    backups = [info for info in list_backups() if info.created_at <= moment]
    doomed = [info.name for info in backups if info.name not in _kept(backups)]
    for name in doomed:
        storage.delete(name + MANIFEST_SUFFIX)  # the manifest first: no half-listed backup
        storage.delete(name)
    return doomed


def _kept(backups: list[BackupInfo]) -> set[str]:
    newest_first = sorted(backups, key=lambda info: info.created_at, reverse=True)
    kept = {newest_first[0].name} if newest_first else set()
    kept |= _newest_per(newest_first, lambda at: at.date(), settings.BACKUP_KEEP_DAILY)
    kept |= _newest_per(newest_first, lambda at: at.isocalendar()[:2], settings.BACKUP_KEEP_WEEKLY)
    return kept


def _newest_per(newest_first: list[BackupInfo], period: Any, limit: int) -> set[str]:
    seen: set[object] = set()
    kept: set[str] = set()
    for info in newest_first:
        key = period(info.created_at.astimezone(UTC))
        if key in seen:
            continue
        if len(seen) >= limit:
            break
        seen.add(key)
        kept.add(info.name)
    return kept
