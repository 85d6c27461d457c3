"""A whole backup round trip, for tests/ops/test_backups.py.

In a fresh process, run as ``python -m tests.ops.backup_child`` with ``DATA_DIR`` (and
``DATABASE_URL`` for PostgreSQL) pointing at a scratch database: migrate, load the
demo (users, contracts, funded and released milestones, a dispute: real ledger
transfers), take a snapshot of every table's row count and every ledger balance,
``manage.py backup``, wipe the database, ``manage.py restore latest --yes``, snapshot
again; print one JSON object. One process instead of one per command saves several
Django start-ups.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
from typing import Any

import django


def snapshot() -> dict[str, Any]:
    """Row counts of every model's table (through tables included) and ledger balances."""
    from django.apps import apps

    from escrow.models import LedgerAccount

    rows = {
        model._meta.db_table: model._base_manager.count()
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    balances = {
        str(pk): str(balance)
        for pk, balance in LedgerAccount.objects.order_by("pk").values_list("pk", "balance")
    }
    return {"rows": rows, "balances": balances}


def _open_elsewhere(vendor: str, settings_dict: dict[str, Any]) -> Any:
    """A second connection to the same database, not Django's."""
    if vendor == "sqlite":
        name = str(settings_dict["NAME"])
        return sqlite3.connect(name, uri=name.startswith("file:"))
    import psycopg

    return psycopg.connect(
        dbname=settings_dict["NAME"],
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
        autocommit=True,
    )


def run() -> dict[str, Any]:
    """The round trip on a fresh scratch database."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from escrow.models import Transfer

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())
    before = snapshot()
    transfers = Transfer.objects.count()
    backup_out, backup_err = io.StringIO(), io.StringIO()
    call_command("backup", stdout=backup_out, stderr=backup_err)
    tables = sorted(connection.introspection.table_names())
    # A migration newer than the backup: the restore must take its table away too.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE added_after_backup (id integer)")
    call_command("flush", interactive=False, verbosity=0)  # every row gone, sequences reset
    wiped = snapshot()
    watcher = _open_elsewhere(connection.vendor, connection.settings_dict)
    restore_out, restore_err = io.StringIO(), io.StringIO()
    call_command("restore", "latest", "--yes", stdout=restore_out, stderr=restore_err)
    after = snapshot()
    tables_after = sorted(connection.introspection.table_names())
    # A connection that was open before the restore (the web process, say) sees it.
    seen_elsewhere = watcher.execute("SELECT count(*) FROM marketplace_user").fetchone()[0]
    watcher.close()
    # Sequences came back too: a new row does not collide with a restored one.
    Group.objects.create(name="created after the restore")
    return {
        "engine": connection.vendor,
        "database": str(connection.settings_dict["NAME"]),
        "transfers": transfers,
        "before": before,
        "wiped": wiped,
        "tables": tables,
        "tables_after": tables_after,
        "users_seen_elsewhere": seen_elsewhere,
        "after": after,
        "backup_output": backup_out.getvalue() + backup_err.getvalue(),
        "restore_output": restore_out.getvalue() + restore_err.getvalue(),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartpay.settings")
    django.setup()
    print("ROUND-TRIP " + json.dumps(run()))
