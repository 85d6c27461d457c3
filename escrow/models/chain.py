"""Where the escrow contract lives on each chain: one row per (chain id, contract name),
written by ``escrow.chain.deploy`` after the deploy transaction is mined."""

from __future__ import annotations

from django.db import models


class ChainDeployment(models.Model):
    """A contract deployed on a chain, with what is needed to verify it later."""

    chain_id = models.PositiveBigIntegerField()
    contract_name = models.CharField(max_length=100)
    address = models.CharField(max_length=42, help_text="Checksummed (EIP-55) address.")
    tx_hash = models.CharField(max_length=66)
    block_number = models.PositiveBigIntegerField()
    deployer = models.CharField(max_length=42)
    bytecode_sha256 = models.CharField(
        max_length=64, help_text="SHA-256 (hex) of the artefact's deployed bytecode."
    )
    deployed_at = models.DateTimeField()

    class Meta:
        ordering = ["chain_id", "contract_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "contract_name"], name="chain_deployment_unique_per_chain"
            ),
            models.CheckConstraint(
                condition=models.Q(address__regex=r"^0x[0-9a-fA-F]{40}$"),
                name="chain_deployment_address_format",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_name} on chain {self.chain_id} at {self.address}"
