"""Release throughput: 16 workers approving distinct submitted milestones at once.

The Django path is ``escrow.services.release.approve_milestone`` (locks, three
ledger moves, the release, the status change, the activity entry, contract
completion). The baseline does the same row work in plain SQL over psycopg:
lock the milestone, lock the four ledger accounts, four balance UPDATEs, three
transfer INSERTs, one release INSERT, the milestone UPDATE and its event INSERT.
Both run with the same concurrency on the same kind of data; the ratio of their
rates says what the service layer costs. Every release is partial (90 %), so
all three transfers (share, fee, remainder) happen on both paths.

PostgreSQL only (SQLite serialises writers). With
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/smartpay_bench``,
``.venv/bin/python bench/bench_release.py`` creates and migrates that database if
needed. ``make bench`` runs it as well, during its seeding step, when
DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import cProfile
import io
import multiprocessing
import os
import pstats
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.synchronize import Barrier as ProcessBarrier
from pathlib import Path
from typing import Any

import harness
from harness import Case, Context

WORKERS = 16
RELEASES = 2_000  # per measured path
THREAD_RELEASES = 1_000  # the Django path once more, on threads, to show the GIL's share
PROFILED_RELEASES = 200
USERS = 200  # clients, and as many freelancers; contracts are spread over them
AMOUNTS = (50_000, 80_000)  # two milestones per contract
TARGET_RATIO = 0.3
UNUSABLE = "!"  # Django's unusable password: nobody logs in as a bench user


def released_part(amount: int) -> int:
    return amount * 9 // 10


@dataclass(frozen=True)
class Work:
    """One release, with everything the SQL baseline needs to do it without lookups."""

    milestone_id: int
    amount: int
    client_id: int
    freelancer_id: int
    fee_bps: int
    escrow_account_id: int
    pending_account_id: int
    available_account_id: int
    fee_account_id: int


@dataclass(frozen=True)
class Outcome:
    name: str
    releases: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.releases / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


# --- the database ---------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    name = str(params["dbname"])
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def seed(label: str, contracts: int) -> list[list[Work]]:
    """``contracts`` active card contracts with two submitted, card-funded milestones
    each, booked in the ledger as the services book them (charge -> client balance ->
    escrow). Returns the work split by contract over the workers, so no two workers
    wait on one contract's lock."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from escrow import ledger
    from escrow.models import Funding, FundingItem, LedgerAccount, Transfer
    from marketplace.models import (
        Category,
        Contract,
        Job,
        Milestone,
        MilestoneEvent,
        Proposal,
        User,
    )
    from marketplace.money import Rail

    now = timezone.now()
    Kind = LedgerAccount.Kind
    with transaction.atomic():
        User.objects.bulk_create(
            [
                User(email=f"bench-release-{role}-{n}@example.test", password=UNUSABLE, **flags)
                for n in range(USERS)
                for role, flags in (
                    ("client", {"is_client": True}),
                    ("freelancer", {"is_client": False, "is_freelancer": True}),
                )
            ],
            ignore_conflicts=True,
        )
        people = {u.email: u for u in User.objects.filter(email__startswith="bench-release-")}
        clients = [people[f"bench-release-client-{n}@example.test"] for n in range(USERS)]
        freelancers = [people[f"bench-release-freelancer-{n}@example.test"] for n in range(USERS)]
        available = {u.pk: ledger.user_account(u, Kind.AVAILABLE, "usd") for u in clients}
        pending = {u.pk: ledger.user_account(u, Kind.PENDING, "usd") for u in freelancers}
        fees = ledger.fee_account("usd")
        external = ledger.external_account(Rail.CARD, "usd")
        category = Category.objects.order_by("pk").first() or Category.objects.create(
            name="Web Development", slug="web-development"
        )
        pairs = [(clients[n % USERS], freelancers[(n * 7 + 3) % USERS]) for n in range(contracts)]
        jobs = Job.objects.bulk_create(
            Job(
                client=client,
                title=f"Release bench {label} {n}",
                description="Seeded for the release benchmark.",
                category=category,
                budget=sum(AMOUNTS),
                currency="usd",
                status=Job.Status.AWARDED,
                visibility=Job.Visibility.INVITE_ONLY,  # kept out of the job search bench
            )
            for n, (client, _) in enumerate(pairs)
        )
        proposals = Proposal.objects.bulk_create(
            Proposal(
                job=job,
                freelancer=freelancer,
                cover_letter="Seeded.",
                currency="usd",
                total=sum(AMOUNTS),
                status=Proposal.Status.ACCEPTED,
            )
            for job, (_, freelancer) in zip(jobs, pairs, strict=True)
        )
        deals = Contract.objects.bulk_create(
            Contract(
                job=job,
                proposal=proposal,
                client=client,
                freelancer=freelancer,
                title=job.title,
                currency="usd",
                rail=Rail.CARD,
                fee_bps=1000,
                status=Contract.Status.ACTIVE,
                accepted_at=now,
            )
            for job, proposal, (client, freelancer) in zip(jobs, proposals, pairs, strict=True)
        )
        milestones = Milestone.objects.bulk_create(
            Milestone(
                contract=deal,
                position=position,
                title=f"Milestone {position}",
                amount=amount,
                status=Milestone.Status.SUBMITTED,
                submitted_at=now,
                review_deadline=now + timedelta(days=14),
            )
            for deal in deals
            for position, amount in enumerate(AMOUNTS, 1)
        )
        MilestoneEvent.objects.bulk_create(
            MilestoneEvent(milestone=m, from_status=a, to_status=b, note="seeded")
            for m in milestones
            for a, b in (("draft", "funded"), ("funded", "submitted"))
        )
        fundings = Funding.objects.bulk_create(
            Funding(
                client=deal.client,
                contract=deal,
                source=Funding.Source.CARD,
                provider="sandbox",
                currency="usd",
                amount=sum(AMOUNTS),
                status=Funding.Status.SUCCEEDED,
                request_key=f"bench-{label}-{deal.pk}",
                payment_intent_id=f"pi_bench_{label}_{deal.pk}",
                succeeded_at=now,
            )
            for deal in deals
        )
        by_contract = {f.contract_id: f for f in fundings}
        FundingItem.objects.bulk_create(
            FundingItem(
                funding=by_contract[m.contract_id], milestone=m, amount=m.amount, applied=True
            )
            for m in milestones
        )
        escrows = LedgerAccount.objects.bulk_create(
            LedgerAccount(kind=Kind.ESCROW, milestone=m, currency="usd", balance=m.amount)
            for m in milestones
        )
        escrow_of = {account.milestone_id: account for account in escrows}
        transfers = [
            Transfer(
                idempotency_key=f"charge:{f.payment_intent_id}",
                source=external,
                destination=available[f.client_id],
                amount=f.amount,
                currency="usd",
                memo="Card payment (seeded)",
            )
            for f in fundings
        ]
        transfers += [
            Transfer(
                idempotency_key=f"fund:{by_contract[m.contract_id].pk}:{m.pk}",
                source=available[by_contract[m.contract_id].client_id],
                destination=escrow_of[m.pk],
                amount=m.amount,
                currency="usd",
                memo="Funded (seeded)",
            )
            for m in milestones
        ]
        Transfer.objects.bulk_create(transfers, batch_size=2_000)
        # The client's balance saw each charge in and out again; only the card account moves.
        LedgerAccount.objects.filter(pk=external.pk).update(
            balance=F("balance") - len(deals) * sum(AMOUNTS)
        )
    deal_of = {deal.pk: deal for deal in deals}
    lanes: list[list[Work]] = [[] for _ in range(WORKERS)]
    for m in milestones:
        deal = deal_of[m.contract_id]
        lanes[deal.pk % WORKERS].append(
            Work(
                milestone_id=m.pk,
                amount=int(m.amount),
                client_id=deal.client_id,
                freelancer_id=deal.freelancer_id,
                fee_bps=deal.fee_bps,
                escrow_account_id=escrow_of[m.pk].pk,
                pending_account_id=pending[deal.freelancer_id].pk,
                available_account_id=available[deal.client_id].pk,
                fee_account_id=fees.pk,
            )
        )
    return lanes


# --- the two paths ------------------------------------------------------------------------


def django_releases(work: Sequence[Work]) -> Callable[[], list[float]]:
    """Prepare (outside the timed part) and return the timed loop of service calls."""
    from escrow.services.release import approve_milestone
    from marketplace.models import User

    clients = User.objects.in_bulk({w.client_id for w in work})

    def run() -> list[float]:
        latencies = []
        for item in work:
            started = time.perf_counter()
            approve_milestone(
                actor=clients[item.client_id],
                milestone_id=item.milestone_id,
                amount=released_part(item.amount),
            )
            latencies.append(time.perf_counter() - started)
        return latencies

    return run


RELEASE_SQL = {
    "milestone": "SELECT status, amount FROM marketplace_milestone WHERE id = %s FOR UPDATE",
    "accounts": (
        "SELECT id, balance FROM escrow_ledgeraccount WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
    ),
    "balance": "UPDATE escrow_ledgeraccount SET balance = balance + %s WHERE id = %s",
    "transfer": (
        "INSERT INTO escrow_transfer (idempotency_key, source_id, destination_id, amount,"
        " currency, memo, created_at) VALUES (%s, %s, %s, %s, 'usd', '', now())"
    ),
    "release": (
        "INSERT INTO escrow_release (milestone_id, freelancer_id, released_by_id, currency,"
        " amount, fee, fee_bps, freelancer_amount, returned_amount, status, available_at,"
        " created_at) VALUES (%s, %s, %s, 'usd', %s, %s, %s, %s, %s, 'pending',"
        " now() + interval '5 days', now())"
    ),
    "status": (
        "UPDATE marketplace_milestone SET status = 'released', updated_at = now() WHERE id = %s"
    ),
    "event": (
        "INSERT INTO marketplace_milestoneevent (milestone_id, from_status, to_status, actor_id,"
        " note, created_at) VALUES (%s, 'submitted', 'released', %s, 'Approved', now())"
    ),
}


def sql_releases(work: Sequence[Work]) -> Callable[[], list[float]]:
    import psycopg

    conn = psycopg.connect(os.environ["DATABASE_URL"])

    def release(cur: psycopg.Cursor[Any], item: Work) -> None:
        row = cur.execute(RELEASE_SQL["milestone"], [item.milestone_id]).fetchone()
        assert row is not None
        assert row[0] == "submitted", row
        accounts = [
            item.escrow_account_id,
            item.pending_account_id,
            item.fee_account_id,
            item.available_account_id,
        ]
        held = dict(cur.execute(RELEASE_SQL["accounts"], [accounts]).fetchall())
        escrow_held = int(held[item.escrow_account_id])
        amount = released_part(item.amount)
        assert 0 < amount <= escrow_held
        fee = amount * item.fee_bps // 10_000
        share, remainder = amount - fee, escrow_held - amount
        for account, change in (
            (item.escrow_account_id, -escrow_held),
            (item.pending_account_id, share),
            (item.fee_account_id, fee),
            (item.available_account_id, remainder),
        ):
            cur.execute(RELEASE_SQL["balance"], [change, account])
        for label, destination, part in (
            ("release", item.pending_account_id, share),
            ("fee", item.fee_account_id, fee),
            ("return", item.available_account_id, remainder),
        ):
            key = f"{label}:{item.milestone_id}"
            cur.execute(RELEASE_SQL["transfer"], [key, item.escrow_account_id, destination, part])
        cur.execute(
            RELEASE_SQL["release"],
            [
                item.milestone_id,
                item.freelancer_id,
                item.client_id,
                amount,
                fee,
                item.fee_bps,
                share,
                remainder,
            ],
        )
        cur.execute(RELEASE_SQL["status"], [item.milestone_id])
        cur.execute(RELEASE_SQL["event"], [item.milestone_id, item.client_id])

    def run() -> list[float]:
        latencies = []
        try:
            for item in work:
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    release(cur, item)
                latencies.append(time.perf_counter() - started)
        finally:
            conn.close()
        return latencies

    return run


PATHS: dict[str, Callable[[Sequence[Work]], Callable[[], list[float]]]] = {
    "django": django_releases,
    "sql": sql_releases,
}


# --- running them side by side ---------------------------------------------------------------


def _lane(path: str, work: Sequence[Work], wait: Callable[[], object]) -> tuple:
    from django.db import connection

    try:
        run = PATHS[path](work)
        wait()
        started = time.monotonic()
        try:
            latencies = run()
            errors = 0
        except Exception as error:  # noqa: BLE001 - counted and shown, never hidden
            print(f"  {path} worker failed: {error!r}", file=sys.stderr)
            latencies, errors = [], len(work)
        return started, time.monotonic(), latencies, errors
    finally:
        connection.close()


def _process_lane(
    path: str, work: Sequence[Work], barrier: ProcessBarrier, results: Any, index: int
) -> None:
    results[index] = _lane(path, work, barrier.wait)


def measure_processes(name: str, path: str, lanes: list[list[Work]]) -> Outcome:
    from django.db import connections

    connections.close_all()  # children must open their own connections
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        results = manager.dict()
        barrier = context.Barrier(len(lanes))
        processes = [
            context.Process(target=_process_lane, args=(path, lane, barrier, results, n))
            for n, lane in enumerate(lanes)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        return _outcome(name, [results[n] for n in range(len(lanes))])


def measure_threads(name: str, path: str, lanes: list[list[Work]]) -> Outcome:
    barrier = threading.Barrier(len(lanes))
    results: list[tuple] = [()] * len(lanes)

    def lane(n: int) -> None:
        results[n] = _lane(path, lanes[n], barrier.wait)

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(len(lanes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _outcome(name, results)


def _outcome(name: str, results: list[tuple]) -> Outcome:
    started = min(r[0] for r in results)
    finished = max(r[1] for r in results)
    latencies = [latency for r in results for latency in r[2]]
    return Outcome(name, len(latencies), sum(r[3] for r in results), finished - started, latencies)


# --- where the Django path spends its time --------------------------------------------------


def _signature(sql: str) -> str:
    """``SELECT marketplace_contract FOR UPDATE``: what a statement does to which table."""
    kind = sql.split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    locked = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
    return f"{kind} {table.group(1) if table else ''}{locked}".strip()


def profile(lanes: list[list[Work]]) -> None:
    """One thread, no contention: the queries of one release, the share of time spent
    waiting on the database, and a cProfile of the rest."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    work = [item for lane in lanes for item in lane]
    one, timed, profiled = work[:1], work[1 : len(work) // 2], work[len(work) // 2 :]

    run = django_releases(one)
    with CaptureQueriesContext(connection) as captured:
        run()
    statements = [query["sql"] for query in captured.captured_queries]
    print(f"\nQueries per release (Django path, one release): {len(statements)}")
    for signature, count in Counter(_signature(sql) for sql in statements).items():
        print(f"  {count:>3} x {signature}")

    waited = 0.0

    def stopwatch(execute: Callable[..., Any], *args: Any) -> Any:
        nonlocal waited
        started = time.perf_counter()
        try:
            return execute(*args)
        finally:
            waited += time.perf_counter() - started

    run = django_releases(timed)
    started = time.perf_counter()
    with connection.execute_wrapper(stopwatch):
        run()
    elapsed = time.perf_counter() - started
    print(
        f"One thread, {len(timed)} releases: {len(timed) / elapsed:.0f}/s, "
        f"{elapsed / len(timed) * 1000:.1f} ms each, of which {waited / len(timed) * 1000:.1f} ms "
        f"({waited / elapsed:.0%}) waiting on the database (round trips included)"
    )

    run = django_releases(profiled)
    profiler = cProfile.Profile()
    profiler.runcall(run)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(15)
    text = out.getvalue()
    print(f"cProfile of {len(profiled)} more releases, top 15 by cumulative time:")
    print(text[text.index("ncalls") :].rstrip())


# --- the report -------------------------------------------------------------------------------


def report(outcomes: list[Outcome], baseline: Outcome) -> None:
    header = (
        f"{'path':40} {'releases':>8} {'rel/s':>8} {'ratio':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        print(
            f"{o.name:40} {o.releases:>8} {o.rate:>8.0f} {o.rate / baseline.rate:>6.2f} "
            f"{statistics.median(o.latencies) * 1000:>8.2f} {o.pct(0.95):>8.2f} "
            f"{o.pct(0.99):>8.2f} {o.errors:>6}"
        )


def vacuum() -> None:
    """Each path starts from the same table state: every release rewrites the one fee
    row, and the dead versions a previous path left would slow the next one down."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("escrow_ledgeraccount", "marketplace_milestone", "marketplace_contract"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def run_benchmark() -> int:
    import django

    sys.path.insert(0, str(harness.ROOT))
    django.setup()
    from escrow import ledger

    label = uuid.uuid4().hex[:8]
    contracts = {
        "django": RELEASES // len(AMOUNTS),
        "sql": RELEASES // len(AMOUNTS),
        "threads": THREAD_RELEASES // len(AMOUNTS),
        "profile": PROFILED_RELEASES // len(AMOUNTS),
    }
    print(
        f"seeding {sum(contracts.values()) * len(AMOUNTS)} submitted milestones ...",
        file=sys.stderr,
    )
    started = time.perf_counter()
    lanes = {name: seed(f"{label}-{name}", count) for name, count in contracts.items()}
    print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    print(f"[1/3] SQL baseline, {WORKERS} processes ...", file=sys.stderr)
    vacuum()
    baseline = measure_processes(f"plain SQL (psycopg), {WORKERS} processes", "sql", lanes["sql"])
    print(f"[2/3] approve_milestone, {WORKERS} processes ...", file=sys.stderr)
    vacuum()
    processes = measure_processes(
        f"approve_milestone, {WORKERS} processes", "django", lanes["django"]
    )
    print(f"[3/3] approve_milestone, {WORKERS} threads ...", file=sys.stderr)
    vacuum()
    threads = measure_threads(f"approve_milestone, {WORKERS} threads", "django", lanes["threads"])

    database = os.environ["DATABASE_URL"].split("@")[-1]
    print(
        f"\nRelease throughput — database: {database}; {WORKERS} concurrent workers, "
        f"distinct milestones, partial releases (3 transfers each); {os.cpu_count()} CPUs\n"
    )
    report([baseline, processes, threads], baseline)
    ratio = processes.rate / baseline.rate
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"\nDjango/SQL ratio (processes): {ratio:.2f} — {verdict} the {TARGET_RATIO} target; "
        f"threads reach {threads.rate / processes.rate:.0%} of processes."
    )
    profile(lanes["profile"])

    from escrow.models import Release

    seeded = sum(
        len(lane) for name in ("django", "sql", "threads", "profile") for lane in lanes[name]
    )
    released = Release.objects.filter(milestone__contract__title__contains=label).count()
    problems = ledger.find_problems()
    print(f"\nReleased {released} of {seeded} seeded milestones; ledger problems: {len(problems)}")
    for problem in problems[:20]:
        print(f"  PROBLEM {problem}")
    failed = problems or released != seeded or baseline.errors or processes.errors or threads.errors
    return 1 if failed else 0


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench_release needs DATABASE_URL=postgres://... (row locks)", file=sys.stderr)
        return 2
    ensure_database(url)
    with harness.temporary_data_dir() as tmp:
        print("preparing database ...", file=sys.stderr, flush=True)
        env = harness.prepare(Path(tmp))
        os.environ.update(env)
        return run_benchmark()


# --- as part of `make bench` (bench/run.py) --------------------------------------------------


def setup(env: dict[str, str]) -> None:
    """run.py seeds every module before its HTTP cases: run the release benchmark then,
    on the same database, and print its table."""
    if not env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("skipping the release benchmark: it needs PostgreSQL", file=sys.stderr)
        return
    result = subprocess.run([sys.executable, __file__], env=env, check=False)
    if result.returncode:
        raise SystemExit(f"release benchmark failed ({result.returncode})")


def cases(ctx: Context) -> list[Case]:
    return []  # not an HTTP benchmark: setup() runs and reports it


if __name__ == "__main__":
    raise SystemExit(main())
