"""How the API describes the chain rail's unsigned wallet transactions.

Escrow builds the transactions; marketplace's submit and revision views answer with
them on the chain rail too, so the serializers that describe them live here, where
both apps may import them (marketplace does not import escrow).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers


class WalletOptionsSerializer(serializers.Serializer[Any]):
    """Optional checks a wallet app adds on the chain rail: the address it will sign with
    and the chain it is on."""

    chain_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Chain rail: the chain your wallet is on; another than ours is "
        "`wrong_chain` (400).",
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        fields["from"] = serializers.CharField(
            required=False,
            allow_blank=True,
            allow_null=True,
            max_length=42,
            help_text="Chain rail: the address you will sign with; it must be your address in "
            "the escrow (or a linked wallet before the escrow exists), else `wallet_mismatch` "
            "(409).",
        )
        return fields


def wallet_options(data: dict[str, Any]) -> dict[str, Any]:
    """Validated ``from`` / ``chain_id`` as the escrow services' keyword arguments."""
    return {"sender": data.get("from") or None, "chain_id": data.get("chain_id")}


class UnsignedTransactionSerializer(serializers.Serializer[Any]):
    to = serializers.CharField(read_only=True, help_text="Checksummed address.")
    value = serializers.CharField(
        read_only=True, help_text="Wei to send, as a decimal string (it may exceed 2**53)."
    )
    chainId = serializers.IntegerField(read_only=True)  # EIP-1193 spells it so
    description = serializers.CharField(read_only=True, help_text="What it does, in words.")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # "from" is a keyword and "data" a Serializer property: both are added here.
        fields["from"] = serializers.CharField(
            read_only=True, help_text="The address that must sign it."
        )
        fields["data"] = serializers.CharField(read_only=True, help_text="Calldata, 0x-hex.")
        return fields


class WalletTransactionsSerializer(serializers.Serializer[Any]):
    rail = serializers.CharField(read_only=True, help_text="Always `chain`.")
    transactions = UnsignedTransactionSerializer(
        many=True,
        read_only=True,
        help_text="Send them in this order from the wallet (`eth_sendTransaction`); each "
        "after the one before it is mined.",
    )
    confirmations = serializers.IntegerField(
        read_only=True,
        help_text="Blocks SmartPay waits for after the last one before the state changes.",
    )


WALLET_EXAMPLE = OpenApiExample(
    "Chain rail",
    response_only=True,
    status_codes=["200"],
    value={
        "rail": "chain",
        "transactions": [
            {
                "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "data": "0x...",
                "value": "0",
                "chainId": 31337,
                "from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "description": "Submit work on “Design” (submission 1) and anchor its digest ...",
            }
        ],
        "confirmations": 12,
    },
)
WALLET_ERRORS = (
    "On the chain rail (200): the unsigned transaction for your wallet; the milestone "
    "changes when chain sync sees it confirmed. Chain errors: `escrow_not_created`, "
    "`chain_state_pending`, `amounts_mismatch`, `wallet_mismatch` (409), `wrong_chain` (400), "
    "`chain_unavailable` (503)."
)
