"""The chain rail's records: where the escrow contract lives (``ChainDeployment``), each
contract's on-chain escrow, chain sync's cursor, checkpoints and logs, and the
transactions the platform key sends."""

from __future__ import annotations

from django.db import models

from marketplace.money import amount_field


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


class ChainEscrow(models.Model):
    """The on-chain escrow of one chain-rail contract.

    The client's wallet creates it (``createEscrow``); chain sync accepts it only when its
    terms match the contract (parties' linked wallets, arbiter, treasury, token, amounts,
    fee, review period). An escrow id someone else took first with other terms is
    ``rejected`` and the contract moves on to a fresh ``onchain_id``.
    """

    class Status(models.TextChoices):
        AWAITING = "awaiting", "Waiting for the client's wallet to create it"
        CREATED = "created", "Created on chain"

    contract = models.OneToOneField(
        "marketplace.Contract", on_delete=models.PROTECT, related_name="chain_escrow"
    )
    chain_id = models.PositiveBigIntegerField()
    onchain_id = amount_field(help_text="The escrow's id in MilestoneEscrow (a uint256).")
    token = models.CharField(max_length=42, help_text="ERC-20 address; the zero address is ETH.")
    # On-chain index i is the milestone whose pk is milestone_ids[i] (fixed at creation).
    milestone_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AWAITING)
    client_address = models.CharField(max_length=42, blank=True)
    freelancer_address = models.CharField(max_length=42, blank=True)
    created_tx = models.CharField(max_length=66, blank=True)
    created_block = models.PositiveBigIntegerField(null=True, blank=True)
    rejected_ids = models.JSONField(
        default=list, help_text="Escrow ids taken on chain by someone else with other terms."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "onchain_id"], name="chain_escrow_unique_onchain_id"
            ),
        ]

    def __str__(self) -> str:
        return f"escrow {self.onchain_id} on chain {self.chain_id} ({self.get_status_display()})"


class ChainCursor(models.Model):
    """How far chain sync has read one contract's logs on one chain."""

    chain_id = models.PositiveBigIntegerField()
    address = models.CharField(max_length=42)
    next_block = models.PositiveBigIntegerField(help_text="First block not read yet.")
    batch_size = models.PositiveIntegerField(default=2000, help_text="Adapts to the node.")
    head_block = models.PositiveBigIntegerField(default=0, help_text="Node head at last sync.")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "address"], name="chain_cursor_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.address} on chain {self.chain_id} from block {self.next_block}"

    @property
    def lag(self) -> int:
        """Blocks between the node's head and what has been read."""
        return max(0, self.head_block + 1 - self.next_block)


class ChainCheckpoint(models.Model):
    """The hash of a block chain sync has read past, to notice a reorg that changed it
    (including one that puts new logs into a block that had none)."""

    cursor = models.ForeignKey(ChainCursor, on_delete=models.CASCADE, related_name="checkpoints")
    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)

    class Meta:
        ordering = ["-block_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["cursor", "block_number"], name="chain_checkpoint_unique_block"
            ),
        ]

    def __str__(self) -> str:
        return f"block {self.block_number} {self.block_hash}"


class ChainLog(models.Model):
    """One contract log, stored once by (chain id, tx hash, log index) while it is live.

    ``undo`` holds what applying it changed besides ledger transfers (milestone status,
    review deadline, anchors), and ``transfer_keys`` the transfers it wrote, so a reorg
    can roll it back exactly. A rolled-back row stays for the record.
    """

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (not one of ours)"
        FAILED = "failed", "Failed — ledger may disagree; see error"
        ROLLED_BACK = "rolled_back", "Rolled back (reorg)"

    chain_id = models.PositiveBigIntegerField()
    address = models.CharField(max_length=42)
    tx_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    block_number = models.PositiveBigIntegerField(db_index=True)
    block_hash = models.CharField(max_length=66)
    event = models.CharField(max_length=40)
    args = models.JSONField(help_text="Decoded arguments; integers as decimal strings.")
    escrow = models.ForeignKey(
        ChainEscrow, null=True, blank=True, on_delete=models.PROTECT, related_name="logs"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    note = models.TextField(blank=True)
    transfer_keys = models.JSONField(default=list)
    undo = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["block_number", "log_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "tx_hash", "log_index"],
                condition=~models.Q(status="rolled_back"),
                name="chain_log_once_while_live",
            ),
        ]
        indexes = [models.Index(fields=["chain_id", "block_number"])]

    def __str__(self) -> str:
        return f"{self.event} {self.tx_hash}:{self.log_index} (block {self.block_number})"


class ChainTransaction(models.Model):
    """A transaction the platform key sends (arbiter resolutions), tracked until confirmed."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent — waiting to be mined"
        MINED = "mined", "Mined — waiting for confirmations"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=200, unique=True, help_text="One transaction per cause.")
    kind = models.CharField(max_length=32)
    milestone = models.ForeignKey(
        "marketplace.Milestone",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="chain_transactions",
    )
    chain_id = models.PositiveBigIntegerField()
    from_address = models.CharField(max_length=42)
    to_address = models.CharField(max_length=42)
    data = models.TextField(help_text="Hex calldata.")
    value = amount_field(default=0)
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    gas = models.PositiveBigIntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "from_address", "nonce"],
                condition=models.Q(nonce__isnull=False),
                name="chain_tx_one_per_nonce",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.tx_hash or '(not sent)'} — {self.get_status_display()}"
