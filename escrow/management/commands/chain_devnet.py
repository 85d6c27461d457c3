"""``manage.py chain_devnet``: the embedded default's local chain, as one long-running process.

It starts anvil from node_modules (a block a second, its state kept in
``DATA_DIR/anvil-state.json`` so the chain survives restarts along with the SQLite
database), waits until the node answers, deploys or verifies the escrow and the demo
USDC (``chain_deploy``, ``chain_deploy --test-token``), tops up the demo clients'
wallets, and then stays in the foreground for as long as anvil runs.

It runs under honcho (``make run``), which stops every process when one exits: so it
exits only when anvil itself dies. If anvil can't start or the node refuses the
deployment, it says so and idles instead, and the card rail runs on.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from web3 import Web3
from web3.exceptions import Web3Exception

from escrow.chain.build import REPO_ROOT
from escrow.models import ChainDeployment
from smartpay.demo_chain import ARBITER, DEMO_WALLETS, DEV_MNEMONIC, TREASURY, fund_demo_wallets
from smartpay.errors import DomainError

ANVIL = REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
START_TIMEOUT = 30  # seconds; loading a long saved chain takes a few
STOP_TIMEOUT = 4  # honcho sends SIGKILL 5 s after SIGTERM
PR_SET_PDEATHSIG = 1


class Command(BaseCommand):
    help = (
        "Run anvil for the embedded default: start it (state kept in DATA_DIR), deploy the "
        "escrow and the demo USDC, fund the demo wallets, and run until stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rpc-url", default=None, help="where anvil listens (default: CHAIN_RPC_URL)"
        )
        parser.add_argument("--block-time", type=int, default=1, help="seconds per block")
        parser.add_argument(
            "--state",
            default=None,
            help="anvil's state file (default: DATA_DIR/anvil-state.json)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["rpc_url"] or settings.CHAIN_RPC_URL or "http://127.0.0.1:8545"
        state = Path(options["state"] or Path(settings.DATA_DIR) / "anvil-state.json")
        process: subprocess.Popen[bytes] | None = None
        if _answers(url):
            self.warn(f"A node already answers at {url}: using it instead of starting anvil.")
        elif not ANVIL.is_file():
            self.idle(f"{ANVIL} is missing (run `npm ci`): no local chain; the card rail runs.")
        else:
            process = self.start(url, state, options["block_time"])
        try:
            self.prepare(url)
        # Whatever went wrong, anvil stays up: exiting would stop the web server too.
        except Exception as error:  # noqa: BLE001
            self.warn(f"The local chain is up but not ready for SmartPay: {error}")
        if process is None:
            self.idle("")
        sys.exit(process.wait())

    # --- anvil ------------------------------------------------------------------------------

    def start(self, url: str, state: Path, block_time: int) -> subprocess.Popen[bytes]:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 8545
        state.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(ANVIL),
            "--host",
            host,
            "--port",
            str(port),
            "--chain-id",
            str(settings.CHAIN_ID),
            "--mnemonic",
            DEV_MNEMONIC,
            "--block-time",
            str(block_time),
            "--state",
            str(state),
            "--state-interval",
            "60",  # a hard kill loses at most a minute of the chain
            "--silent",
        ]
        process = subprocess.Popen(command, preexec_fn=_die_with_parent)  # noqa: S603
        _stop_with(process)
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if process.poll() is not None:
                self.idle(f"anvil exited at once (code {process.returncode}); is {port} free?")
            if time.monotonic() > deadline:
                process.terminate()
                self.idle(f"anvil did not answer at {url} within {START_TIMEOUT} s.")
            time.sleep(0.1)
        self.stdout.write(
            f"Local chain: anvil at {url}, chain {settings.CHAIN_ID}, a block every "
            f"{block_time} s, state kept in {state}."
        )
        return process

    # --- SmartPay on it ---------------------------------------------------------------------

    def prepare(self, url: str) -> None:
        """Deploy or verify both contracts and fund the demo wallets (each is idempotent)."""
        call_command("chain_deploy", rpc_url=url, stdout=self.stdout)
        call_command("chain_deploy", rpc_url=url, test_token=True, stdout=self.stdout)
        recorded = dict(
            ChainDeployment.objects.filter(chain_id=settings.CHAIN_ID).values_list(
                "contract_name", "address"
            )
        )
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
        try:
            for line in fund_demo_wallets(w3):
                self.stdout.write(f"  {line}")
        except (DomainError, OSError, Web3Exception) as error:
            raise CommandError(f"funding the demo wallets failed: {error}") from error
        self.stdout.write(
            f"  escrow (MilestoneEscrow) {recorded.get('MilestoneEscrow')}, demo USDC "
            f"(TestToken) {recorded.get('TestToken')}; platform key {ARBITER.address} "
            f"(anvil account 3), treasury {TREASURY.address} (account 4)."
        )
        for email, account in DEMO_WALLETS.items():
            self.stdout.write(f"  wallet of {email}: {account.address} (account {account.index})")

    # --- output -----------------------------------------------------------------------------

    def warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(f"chain_devnet: {message}"))

    def idle(self, message: str) -> NoReturn:
        """Stay up without a chain: honcho would stop the web server if this exited."""
        if message:
            self.warn(message)
        while True:
            time.sleep(3600)


def _answers(url: str) -> bool:
    try:
        Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 1})).eth.chain_id  # noqa: B018
    except Exception:  # noqa: BLE001 (anything but an answer means "not yet")
        return False
    return True


def _die_with_parent() -> None:
    """In the child before exec: anvil gets SIGTERM (and saves its state) if this process
    is killed without passing the signal on."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_with(process: subprocess.Popen[bytes]) -> None:
    """On SIGTERM or SIGINT, stop anvil (it saves its state on the way out), then exit."""

    def stop(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signal.SIGTERM)
        # Reaped here with waitpid: Popen.wait would block on the lock that the
        # interrupted process.wait() in handle() still holds.
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if os.waitpid(process.pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:  # already reaped
                break
            time.sleep(0.05)
        else:
            process.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
