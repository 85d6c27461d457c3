"""``manage.py chain_deploy``: deploy MilestoneEscrow, or verify the recorded deployment."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from escrow.chain.deploy import (
    ChainDeployError,
    DeployOutcome,
    ensure_escrow_deployed,
    ensure_test_token_deployed,
)


class Command(BaseCommand):
    help = (
        "Deploy the MilestoneEscrow contract and record its address, or verify the recorded "
        "one. Without CHAIN_DEPLOYER_KEY the node's first unlocked account deploys (anvil). "
        "With --test-token, the same for TestToken, the demo's USDC (development chains only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rpc-url", default=None, help="default: settings.CHAIN_RPC_URL")
        parser.add_argument("--force", action="store_true", help="deploy even if verified")
        parser.add_argument("--owner", default=None, help="who may pause; default: deployer")
        parser.add_argument(
            "--test-token",
            action="store_true",
            help="deploy or verify TestToken (the demo USDC) instead; dev chains only",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rpc_url = options["rpc_url"] or settings.CHAIN_RPC_URL
        if not rpc_url:
            raise CommandError("No RPC URL: set CHAIN_RPC_URL or pass --rpc-url.")
        try:
            if options["test_token"]:
                outcome = ensure_test_token_deployed(
                    rpc_url=rpc_url, deployer_key=_deployer_key(), force=options["force"]
                )
            else:
                outcome = ensure_escrow_deployed(
                    rpc_url=rpc_url,
                    deployer_key=_deployer_key(),
                    owner=options["owner"],
                    force=options["force"],
                )
        except ChainDeployError as exc:
            raise CommandError(exc.detail) from exc
        self.report(outcome)

    def report(self, outcome: DeployOutcome) -> None:
        d = outcome.deployment
        if outcome.deployed:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Deployed {d.contract_name} on chain {d.chain_id} at {d.address} "
                    f"(block {d.block_number}, tx {d.tx_hash}) because: {outcome.reason}."
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Verified existing {d.contract_name} on chain {d.chain_id} at {d.address} "
                    f"(deployed in block {d.block_number}); nothing sent."
                )
            )


def _deployer_key() -> str | None:
    """``CHAIN_DEPLOYER_KEY``, or None for the node's unlocked account; never logged."""
    return settings.CHAIN_DEPLOYER_KEY or None
