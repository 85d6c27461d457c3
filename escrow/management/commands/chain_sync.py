"""``manage.py chain_sync``: read the escrow contract's logs into the ledger, with a
progress line per batch; exit 1 when the chain rail is not configured or the node
cannot be used."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from escrow.chain.node import ChainUnavailable
from escrow.chain.sync import SyncReport, sync_chain
from escrow.tasks_chain import CHAIN_SYNC_TIME_LIMIT
from smartpay.errors import DomainError
from smartpay.periodic import single_run


class Command(BaseCommand):
    help = (
        "Read MilestoneEscrow logs from CHAIN_RPC_URL up to head - CHAIN_CONFIRMATIONS (or "
        "the finalized block) and apply them to the ledger; reorgs are rolled back and "
        "read again. --from-block re-reads from an earlier block: logs already stored are "
        "skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from-block", type=int, default=None, help="re-read from this block (<= cursor)"
        )
        parser.add_argument(
            "--to-block", type=int, default=None, help="stop after this block (default: safe)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("from_block", "to_block"):
            if options[name] is not None and options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must be a block number >= 0.")
        # The beat task's lock: a run by hand never overlaps a scheduled one.
        with single_run("escrow-chain-sync", CHAIN_SYNC_TIME_LIMIT) as acquired:
            if not acquired:
                raise CommandError("Another chain sync is running; nothing was done.")
            try:
                report = sync_chain(
                    from_block=options["from_block"],
                    to_block=options["to_block"],
                    progress=self.show_progress,
                )
            except ChainUnavailable as error:
                raise CommandError(f"Chain sync stopped: {error.detail}") from error
            except DomainError as error:
                raise CommandError(error.detail) from error
        if not report.configured:
            raise CommandError(f"Chain sync did nothing: {report.reason}")
        self.show_summary(report)

    def show_progress(self, report: SyncReport) -> None:
        share = report.blocks_done / report.blocks_total if report.blocks_total else 1.0
        self.stdout.write(
            f"blocks {report.blocks_done}/{report.blocks_total} ({share:.0%}), "
            f"{report.logs_seen} event(s), {report.events_per_second:,.0f} events/s"
        )

    def show_summary(self, report: SyncReport) -> None:
        if report.blocks_total == 0 and not report.reorgs:
            self.stdout.write(
                f"Nothing new: chain {report.chain_id} is read up to the safe block "
                f"{report.safe_block} (head {report.head})."
            )
        else:
            self.stdout.write(
                f"Read blocks {report.from_block}-{report.to_block} of chain {report.chain_id} "
                f"(head {report.head}, safe {report.safe_block}) in {report.batches} batch(es), "
                f"{report.seconds:.1f} s."
            )
        self.stdout.write(
            f"{report.logs_seen} event(s): {report.applied} applied, {report.ignored} ignored, "
            f"{report.failed} failed, {report.duplicates} already stored; "
            f"{report.reorgs} reorg(s), {report.rolled_back} rolled back."
        )
        if report.failed:
            self.stderr.write(
                self.style.WARNING(
                    f"{report.failed} event(s) failed to apply: see Chain logs in the admin "
                    "(admins were mailed)."
                )
            )
        self.stdout.write(self.style.SUCCESS("Chain sync done."))
