"""Engine-specific halves of backups (see ``smartpay.backups``).

PostgreSQL: ``pg_dump --format=custom`` (compressed by pg_dump) and ``pg_restore``; the
connection goes through libpq's environment variables, so the password never appears on
a command line that ``ps`` shows. SQLite: the online backup API, which copies a
consistent snapshot while other connections keep writing, gzip-compressed for storage.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

CHUNK_SIZE = 1024 * 1024
RESTORE_LOCK_TIMEOUT = "60s"
SQLITE_PAGES_PER_STEP = 1024  # 4 MiB of 4 KiB pages between progress reports
# libpq reads these from the environment; DATABASES["OPTIONS"] keys that map to them.
PG_OPTION_VARIABLES = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}

# progress(stage, done, total): bytes for dump/compress/upload/download, pages for copy.
Progress = Callable[[str, int, "int | None"], None]


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The default reporter: say nothing."""


def engine_of(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in ("postgresql", "sqlite"):
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")
    return str(connection.vendor)


# --- PostgreSQL -----------------------------------------------------------------------


def postgres_env(settings_dict: Mapping[str, Any]) -> dict[str, str]:
    """The child environment for pg_dump / pg_restore: libpq variables, no argv secrets."""
    env = dict(os.environ)
    values = {
        "PGHOST": settings_dict.get("HOST"),
        "PGPORT": settings_dict.get("PORT"),
        "PGUSER": settings_dict.get("USER"),
        "PGPASSWORD": settings_dict.get("PASSWORD"),
        "PGDATABASE": settings_dict.get("NAME"),
        "PGAPPNAME": "smartpay-backup",
    }
    options = settings_dict.get("OPTIONS") or {}
    for option, variable in PG_OPTION_VARIABLES.items():
        values[variable] = options.get(option)
    for variable, value in values.items():
        if value not in (None, ""):
            env[variable] = str(value)
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client).")
    return found


def dump_postgres(settings_dict: Mapping[str, Any], target: Path, report: Progress) -> str:
    """Stream ``pg_dump``'s output into ``target`` and return its SHA-256. pg_dump reads
    one snapshot, so the dump is consistent while the site keeps running."""
    digest = hashlib.sha256()
    command = [_pg_tool("pg_dump"), "--format=custom", f"--dbname={settings_dict['NAME']}"]
    with tempfile.TemporaryFile() as errors, target.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command, stdout=subprocess.PIPE, stderr=errors, env=postgres_env(settings_dict)
        )
        assert process.stdout is not None
        done = 0
        report("dump", 0, None)
        while chunk := process.stdout.read(CHUNK_SIZE):
            output.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            report("dump", done, None)
        if process.wait() != 0:
            raise BackupError(f"pg_dump failed: {_text(errors)}")
    return digest.hexdigest()


def check_postgres_archive(archive: Path) -> set[tuple[str, str]]:
    """Read the archive's table of contents before the database is touched (a damaged
    archive fails here, not halfway through a restore); return its (schema, table)s."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [_pg_tool("pg_restore"), "--list", str(archive)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise BackupError(f"{archive.name} is not a readable pg_dump archive: {message}")
    tables = set()
    for line in result.stdout.decode(errors="replace").splitlines():
        # "231; 1259 16504 TABLE public account_emailaddress postgres"
        match = re.match(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ", line)
        if match:
            tables.add((match.group(1), match.group(2)))
    return tables


def drop_tables_not_in(connection: BaseDatabaseWrapper, kept: set[tuple[str, str]]) -> list[str]:
    """After a restore, drop the tables the backup did not have (made by a migration
    newer than the backup): the database then matches the backup, and ``migrate``
    recreates them instead of failing on tables that already exist."""
    quote = connection.ops.quote_name
    dropped = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname = ANY(current_schemas(false)) ORDER BY 1, 2"
        )
        for schema, table in cursor.fetchall():
            if (schema, table) not in kept:
                cursor.execute(f"DROP TABLE IF EXISTS {quote(schema)}.{quote(table)} CASCADE")
                dropped.append(f"{schema}.{table}")
    return dropped


def restore_postgres(settings_dict: Mapping[str, Any], archive: Path, report: Progress) -> None:
    """Replace the database's contents with the archive's, all or nothing.

    ``--clean --if-exists`` drops each object before recreating it, so rows written after
    the backup disappear instead of mixing with the restored ones (and sequences come
    back at their dumped values); ``--single-transaction`` rolls everything back on the
    first error; ``--no-owner`` makes the restoring role the owner, since the role that
    made the dump may not exist here.
    """
    command = [
        _pg_tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={settings_dict['NAME']}",
        str(archive),
    ]
    env = postgres_env(settings_dict)
    # Dropping a table waits for every transaction that touched it: a site still running
    # makes the restore fail (rolled back) after a while instead of hanging unseen.
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={RESTORE_LOCK_TIMEOUT}".strip()
    report("pg_restore", 0, 1)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        command, capture_output=True, env=env, check=False
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise BackupError(f"pg_restore failed; the database was left as it was: {message}")
    report("pg_restore", 1, 1)


def _text(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode(errors="replace").strip()


# --- SQLite ---------------------------------------------------------------------------


def _sqlite_connect(path: str | Path) -> sqlite3.Connection:
    """Django's test databases are shared-cache URIs (``file:memorydb_...``)."""
    name = str(path)
    return sqlite3.connect(name, uri=name.startswith("file:"), timeout=30)


def _copy_sqlite(
    source: sqlite3.Connection, target: sqlite3.Connection, report: Progress, stage: str
) -> None:
    def on_step(status: int, remaining: int, total: int) -> None:
        report(stage, total - remaining, total)

    source.backup(target, pages=SQLITE_PAGES_PER_STEP, progress=on_step)


def dump_sqlite(
    settings_dict: Mapping[str, Any], target: Path, work: Path, report: Progress
) -> str:
    """Copy the live database page by page into a temporary file, then gzip it into
    ``target``; return the SHA-256 of the compressed file."""
    snapshot = work / "snapshot.sqlite3"
    source = _sqlite_connect(settings_dict["NAME"])
    copy = sqlite3.connect(snapshot)
    try:
        _copy_sqlite(source, copy, report, "copy")
        # A self-contained file: the live database's WAL mode would want a -wal beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()
    digest = hashlib.sha256()
    total = snapshot.stat().st_size
    with snapshot.open("rb") as raw, target.open("wb") as output:
        hashing = _HashingWriter(output, digest)
        with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0) as packed:
            done = 0
            while chunk := raw.read(CHUNK_SIZE):
                packed.write(chunk)
                done += len(chunk)
                report("compress", done, total)
    snapshot.unlink()
    return digest.hexdigest()


class _HashingWriter:
    """Hashes what gzip writes, on its way to the file: one pass over the bytes."""

    def __init__(self, output: IO[bytes], digest: Any) -> None:
        self._output = output
        self._digest = digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._output.write(data)

    def flush(self) -> None:
        self._output.flush()


def unpack_sqlite(archive: Path, work: Path, report: Progress) -> Path:
    """Decompress and check the backup before the live database is touched: it must be
    an intact SQLite database that Django has migrated."""
    database = work / "restore.sqlite3"
    try:
        with gzip.open(archive, "rb") as packed, database.open("wb") as output:
            done = 0
            while chunk := packed.read(CHUNK_SIZE):
                output.write(chunk)
                done += len(chunk)
                report("unpack", done, None)
        checked = sqlite3.connect(database)
        # Django's CHECK constraints call REGEXP, which Django registers per connection.
        checked.create_function("REGEXP", 2, _regexp, deterministic=True)
        try:
            verdict = checked.execute("PRAGMA integrity_check").fetchone()[0]
            has_migrations = checked.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
            ).fetchone()
        finally:
            checked.close()
    except (OSError, EOFError, sqlite3.DatabaseError) as error:
        raise BackupError(f"{archive.name} is not a readable SQLite backup: {error}") from error
    if verdict != "ok" or not has_migrations:
        raise BackupError(f"{archive.name} fails SQLite's integrity check: {verdict}")
    return database


def _regexp(pattern: str | None, value: Any) -> bool | None:
    if pattern is None or value is None:
        return None
    return bool(re.search(pattern, str(value)))


def restore_sqlite(settings_dict: Mapping[str, Any], database: Path, report: Progress) -> None:
    """Copy the checked backup over the live database with the backup API. Writing
    through SQLite (not replacing the file) keeps the file, its WAL and its locks valid,
    so processes that hold it open see the restored contents on their next query."""
    source = sqlite3.connect(database)
    target = _sqlite_connect(settings_dict["NAME"])
    try:
        _copy_sqlite(source, target, report, "restore")
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not restore the backup: {error}") from error
    finally:
        target.close()
        source.close()
