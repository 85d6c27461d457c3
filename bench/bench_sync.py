"""Chain sync throughput: 10,000 escrow events on anvil, ingested by ``sync_chain``, as a
ratio of the time it takes merely to fetch the same logs with ``eth_getLogs``.

Its own anvil (automine off while the events are generated, so they pack into few
blocks), a fresh database (SQLite in a temporary folder; a fresh PostgreSQL database
beside DATABASE_URL's when it is set), 100 accepted escrows x 100 funded milestones.
Then:

(a) ``eth_getLogs`` over the same range with the same batch size (CHAIN_SYNC_BATCH),
    through the same web3 client, best of three;
(b) ``sync_chain`` ingesting them: fetch, checks, decode, apply to the ledger and the
    milestones, checkpoints, one transaction per batch.

Target: (b)/(a) >= 0.5. A further 1,000 events are then ingested under cProfile to
show where the time goes (top entries, and SQL queries per event).

Run: ``.venv/bin/python bench/bench_sync.py``; ``make bench`` runs it too (setup()).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
ANVIL = ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
MNEMONIC = "test test test test test test test test test test test junk"
ESCROWS = 100
MILESTONES = 100
PROFILED_ESCROWS = 10
AMOUNT = 10**12
TARGET_RATIO = 0.5
SEND_CHUNK = 500  # eth_sendTransaction calls per JSON-RPC batch
POOL_ROUND = 2_000  # transactions sent before mining them
# Full blocks (anvil's default 30M gas: ~400 fundings each) raise the base fee 12.5 %
# a block; starting it at zero keeps queued transactions from being priced out (and
# silently dropped) while earlier rounds fill blocks.
FEES = {"maxFeePerGas": hex(10**9), "maxPriorityFeePerGas": "0x0"}


# --- the node ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_anvil() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(ANVIL),
            "--port",
            str(port),
            "--mnemonic",
            MNEMONIC,
            "--chain-id",
            "31337",
            "--base-fee",
            "0",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            rpc(url, "eth_chainId", [])
            return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("anvil did not start")


def rpc(url: str, method: str, params: list[Any]) -> Any:
    reply = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=60
    ).json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def send_all(url: str, transactions: list[dict[str, Any]]) -> None:
    """Send the transactions in rounds of POOL_ROUND (anvil's pool silently drops some
    past ~8,000 pending transactions)."""
    for start in range(0, len(transactions), POOL_ROUND):
        send_round(url, transactions[start : start + POOL_ROUND])


def send_round(url: str, transactions: list[dict[str, Any]]) -> None:
    """Send every transaction with automine off (JSON-RPC batches), then mine blocks
    until the pool is empty and check every receipt succeeded."""
    rpc(url, "evm_setAutomine", [False])
    nonce = int(rpc(url, "eth_getTransactionCount", [transactions[0]["from"], "pending"]), 16)
    transactions = [{**tx, "nonce": hex(nonce + n)} for n, tx in enumerate(transactions)]
    hashes: list[str] = []
    for start in range(0, len(transactions), SEND_CHUNK):
        chunk = transactions[start : start + SEND_CHUNK]
        batch = [
            {"jsonrpc": "2.0", "id": n, "method": "eth_sendTransaction", "params": [tx]}
            for n, tx in enumerate(chunk)
        ]
        replies = sorted(requests.post(url, json=batch, timeout=120).json(), key=lambda r: r["id"])
        errors = [r["error"] for r in replies if "error" in r]
        if errors:
            raise RuntimeError(f"eth_sendTransaction: {errors[0]}")
        hashes += [r["result"] for r in replies]
    while int(rpc(url, "txpool_status", [])["pending"], 16):
        rpc(url, "evm_mine", [])
    rpc(url, "evm_setAutomine", [True])
    receipts = [
        {"jsonrpc": "2.0", "id": n, "method": "eth_getTransactionReceipt", "params": [h]}
        for n, h in enumerate(hashes)
    ]
    replies = requests.post(url, json=receipts, timeout=120).json()
    missing = [r["id"] for r in replies if r.get("result") is None]
    if missing:
        raise RuntimeError(f"{len(missing)} transaction(s) were dropped by the node")
    for reply in replies:
        assert reply["result"]["status"] == "0x1", reply


# --- the app's side ---------------------------------------------------------------------------


def configure(tmp: Path, url: str) -> str:
    """Environment for a fresh database and the bench anvil; returns the database label."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()

    def account(index: int) -> Any:
        return Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")

    os.environ.update(
        DATA_DIR=str(tmp),
        DJANGO_SETTINGS_MODULE="smartpay.settings",
        LOG_LEVEL="WARNING",
        CHAIN_RPC_URL=url,
        CHAIN_ID="31337",
        CHAIN_CONFIRMATIONS="0",
        CHAIN_USE_FINALIZED="false",
        CHAIN_ARBITER_KEY=account(3).key.to_0x_hex(),
        CHAIN_TREASURY_ADDRESS=account(4).address,
        CHAIN_USDC_ADDRESS="",
    )
    database = os.environ.get("DATABASE_URL", "")
    if database.startswith(("postgres://", "postgresql://")):
        os.environ["DATABASE_URL"] = fresh_postgres(database)
        return os.environ["DATABASE_URL"].split("@")[-1]
    os.environ.pop("DATABASE_URL", None)
    return f"sqlite ({tmp})"


def fresh_postgres(url: str) -> str:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"{conninfo_to_dict(url)['dbname']}_sync_bench"
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return str(url.rsplit("/", 1)[0] + "/" + name)


def drop_postgres(url: str) -> None:
    """Drop the benchmark's own database once it is done."""
    import psycopg
    from django.db import connections
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    connections.close_all()
    name = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def seed(count: int, label: str) -> list[tuple[int, list[int]]]:
    """``count`` active ETH contracts of MILESTONES milestones between the bench client
    (anvil account 1) and freelancer (account 2), each with its waiting ChainEscrow.
    Returns (contract pk, milestone pks by position) per contract."""
    from django.db import transaction
    from django.utils import timezone

    from escrow.chain.node import ETH_ADDRESS
    from escrow.models import ChainEscrow
    from marketplace.models import Category, Contract, Job, Milestone, Proposal, User, Wallet
    from marketplace.money import Rail

    total = MILESTONES * AMOUNT
    with transaction.atomic():
        client, _ = User.objects.get_or_create(
            email="bench-sync-client@example.test", defaults={"is_client": True}
        )
        freelancer, _ = User.objects.get_or_create(
            email="bench-sync-freelancer@example.test",
            defaults={"is_client": False, "is_freelancer": True},
        )
        accounts = rpc(os.environ["CHAIN_RPC_URL"], "eth_accounts", [])
        for user, address in ((client, accounts[1]), (freelancer, accounts[2])):
            Wallet.objects.get_or_create(user=user, address=_checksum(address))
        category = Category.objects.order_by("pk").first() or Category.objects.create(
            name="Web Development", slug="web-development"
        )
        jobs = Job.objects.bulk_create(
            Job(
                client=client,
                title=f"Sync bench {label} {n}",
                description="Seeded.",
                category=category,
                budget=total,
                currency="eth",
                status=Job.Status.AWARDED,
            )
            for n in range(count)
        )
        proposals = Proposal.objects.bulk_create(
            Proposal(
                job=job,
                freelancer=freelancer,
                cover_letter="Seeded.",
                currency="eth",
                total=total,
                status=Proposal.Status.ACCEPTED,
            )
            for job in jobs
        )
        contracts = Contract.objects.bulk_create(
            Contract(
                job=job,
                proposal=proposal,
                client=client,
                freelancer=freelancer,
                title=job.title,
                currency="eth",
                rail=Rail.CHAIN,
                fee_bps=1000,
                status=Contract.Status.ACTIVE,
                accepted_at=timezone.now(),
            )
            for job, proposal in zip(jobs, proposals, strict=True)
        )
        milestones = Milestone.objects.bulk_create(
            (
                Milestone(contract=deal, position=p, title=f"Milestone {p}", amount=AMOUNT)
                for deal in contracts
                for p in range(1, MILESTONES + 1)
            ),
            batch_size=2_000,
        )
        by_contract: dict[int, list[int]] = {deal.pk: [] for deal in contracts}
        for milestone in milestones:
            by_contract[milestone.contract_id].append(milestone.pk)
        ChainEscrow.objects.bulk_create(
            ChainEscrow(
                contract_id=pk, chain_id=31337, onchain_id=pk, token=ETH_ADDRESS, milestone_ids=ids
            )
            for pk, ids in by_contract.items()
        )
    return list(by_contract.items())


def _checksum(address: str) -> str:
    from web3 import Web3

    return str(Web3.to_checksum_address(address))


def escrow_transactions(escrows: list[tuple[int, list[int]]]) -> list[list[dict[str, Any]]]:
    """createEscrow for each contract, then fund for each milestone (two rounds)."""
    from escrow.chain import node

    url = os.environ["CHAIN_RPC_URL"]
    w3 = node.web3()
    contract = node.escrow_contract(w3)
    client, freelancer = (_checksum(a) for a in rpc(url, "eth_accounts", [])[1:3])
    base = {"from": client, "to": contract.address, **FEES}
    creates = [
        {
            **base,
            "gas": hex(12_000_000),
            "data": contract.encode_abi(
                "createEscrow",
                args=[
                    pk,
                    freelancer,
                    node.arbiter_address(),
                    node.ETH_ADDRESS,
                    node.treasury_address(),
                    [AMOUNT] * len(ids),
                    node.review_period_seconds(),
                    1000,
                ],
            ),
        }
        for pk, ids in escrows
    ]
    funds = [
        {
            **base,
            "gas": hex(200_000),
            "value": hex(AMOUNT),
            "data": contract.encode_abi("fund", args=[pk, index]),
        }
        for pk, ids in escrows
        for index in range(len(ids))
    ]
    return [creates, funds]


# --- the measurements -------------------------------------------------------------------------


def fetch_only(first: int, last: int, batch: int, *, formatted: bool) -> tuple[float, int]:
    """Seconds to read [first, last] with eth_getLogs in ``batch``-block steps, and the
    log count: as JSON (what sync reads) or through web3's result formatters."""
    from web3 import Web3

    from escrow.chain import node

    w3 = node.web3()
    address = Web3.to_checksum_address(node.deployment().address)
    started = time.perf_counter()
    seen = 0
    for low in range(first, last + 1, batch):
        high = min(last, low + batch - 1)
        if formatted:
            found = w3.eth.get_logs({"address": address, "fromBlock": low, "toBlock": high})
        else:
            query = {"address": address, "fromBlock": hex(low), "toBlock": hex(high)}
            found = w3.provider.make_request("eth_getLogs", [query])["result"]  # type: ignore[arg-type]
        seen += len(found)
    return time.perf_counter() - started, seen


def row(name: str, events: int, seconds: float) -> None:
    print(f"{name:48} {events:>7} {seconds:>8.2f} {events / seconds:>9,.0f}")


def applied_rows() -> int:
    from escrow.models import ChainLog

    return ChainLog.objects.exclude(status=ChainLog.Status.ROLLED_BACK).count()


def profile_sync(to_block: int) -> None:
    from django.db import connection

    from escrow.chain.sync import sync_chain

    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    profiler = cProfile.Profile()
    with connection.execute_wrapper(count):
        profiler.enable()
        report = sync_chain(to_block=to_block)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(30)
    print(
        f"\nProfile of {report.logs_seen} more events ({report.events_per_second:,.0f} "
        f"events/s under cProfile), {statements / max(1, report.logs_seen):.1f} SQL "
        f"statements per event (savepoints included); top entries by cumulative time:"
    )
    print("\n".join(out.getvalue().splitlines()[:60]))


def prepare(url: str) -> tuple[int, int]:
    """Migrate, deploy, seed and put the events on chain: the measured escrows, then
    the profiled ones. Returns the deployment block and the last measured block."""
    from django.core.management import call_command

    from escrow.chain.deploy import ensure_escrow_deployed

    print("migrating a fresh database ...", file=sys.stderr, flush=True)
    call_command("migrate", "--noinput", verbosity=0)
    deployed = ensure_escrow_deployed(rpc_url=url).deployment
    print(f"seeding {ESCROWS} x {MILESTONES} milestones ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    for round_ in escrow_transactions(seed(ESCROWS, "measured")):
        send_all(url, round_)
    last = int(rpc(url, "eth_blockNumber", []), 16)
    print(f"events on chain in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for round_ in escrow_transactions(seed(PROFILED_ESCROWS, "profiled")):
        send_all(url, round_)
    return deployed.block_number, last


def measure(label: str, first: int, last: int) -> None:
    from django.conf import settings

    from escrow.chain.sync import sync_chain

    batch = settings.CHAIN_SYNC_BATCH
    fetch_seconds, events = min(fetch_only(first, last, batch, formatted=False) for _ in range(3))
    formatted_seconds, _ = min(fetch_only(first, last, batch, formatted=True) for _ in range(3))
    print(f"syncing {events} events ...", file=sys.stderr, flush=True)
    report = sync_chain(to_block=last)
    print("reading them again (all duplicates) ...", file=sys.stderr, flush=True)
    again = sync_chain(from_block=first, to_block=last)
    assert again.duplicates == applied_rows(), again

    print(
        f"\nChain sync — database: {label}; {events:,} events in blocks {first}-{last} "
        f"({report.batches} batch(es) of up to {batch} blocks); {os.cpu_count()} CPUs\n"
    )
    print(f"{'path':48} {'events':>7} {'seconds':>8} {'events/s':>9}")
    row("eth_getLogs as JSON (best of 3): the baseline", events, fetch_seconds)
    row("eth_getLogs through web3 formatters (best of 3)", events, formatted_seconds)
    row("sync_chain: fetch, check, apply, commit", report.logs_seen, report.seconds)
    row("sync_chain again, all duplicates (no apply)", again.logs_seen, again.seconds)
    ratio = fetch_seconds / report.seconds * report.logs_seen / events
    apply_ms = (report.seconds - again.seconds) / max(1, report.logs_seen) * 1000
    print(
        f"\napplying costs {apply_ms:.2f} ms per event (sync minus the duplicate re-read); "
        f"fetching {fetch_seconds / events * 1000:.3f} ms; sync's own work without "
        f"applying runs at {fetch_seconds / again.seconds:.2f} of the fetch rate"
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    versus_web3 = formatted_seconds / report.seconds * report.logs_seen / events
    print(
        f"\nsync/fetch ratio: {ratio:.3f} — {verdict} the {TARGET_RATIO} target "
        f"({versus_web3:.3f} against eth_getLogs through web3)"
    )


def verify() -> bool:
    """Every measured event applied, every milestone funded, the ledger sound."""
    from escrow.ledger import find_problems
    from escrow.models import ChainLog
    from marketplace.models import Milestone

    funded = Milestone.objects.filter(status=Milestone.Status.FUNDED).count()
    applied = ChainLog.objects.filter(status=ChainLog.Status.APPLIED).count()
    problems = find_problems()
    print(f"applied {applied} events; {funded} milestones funded; ledger problems: {len(problems)}")
    count = ESCROWS + PROFILED_ESCROWS
    return applied == count * (MILESTONES + 1) and funded == count * MILESTONES and not problems


def run(tmp: Path) -> int:
    anvil, url = start_anvil()
    try:
        label = configure(tmp, url)
        import django

        sys.path.insert(0, str(ROOT))
        django.setup()
        first, last = prepare(url)
        measure(label, first, last)
        profile_sync(int(rpc(url, "eth_blockNumber", []), 16))
        ok = verify()
        if os.environ.get("DATABASE_URL", "").endswith("_sync_bench"):
            drop_postgres(os.environ["DATABASE_URL"])
        return 0 if ok else 1
    finally:
        anvil.terminate()
        anvil.wait(timeout=10)


def main() -> int:
    if not ANVIL.is_file():
        print(f"{ANVIL} is missing: run `npm ci`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="smartpay-bench-sync-") as tmp:
        return run(Path(tmp))


# --- as part of `make bench` (bench/run.py) ---------------------------------------------------


def setup(env: dict[str, str]) -> None:
    """run.py seeds every module before its HTTP cases: run the sync benchmark then, in
    its own process, with its own anvil and database."""
    result = subprocess.run([sys.executable, __file__], env=env, check=False)
    if result.returncode:
        raise SystemExit(f"chain sync benchmark failed ({result.returncode})")


def cases(ctx: Any) -> list[Any]:
    return []  # not an HTTP benchmark: setup() runs and reports it


if __name__ == "__main__":
    raise SystemExit(main())
