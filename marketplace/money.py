"""Currencies and amounts. Amounts are whole numbers of the smallest unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models

# NUMERIC(78, 0): a uint256 fits; a 64-bit integer overflows at ~9.2 ETH in wei.
AMOUNT_DIGITS = 78


def amount_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=0, **kwargs)  # type: ignore[arg-type]


class Rail(models.TextChoices):
    CARD = "card", "Card (Stripe)"
    CHAIN = "chain", "Chain (Ethereum escrow)"


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    exponent: int  # digits after the decimal point: cents = 2, wei = 18
    rail: str
    symbol: str


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("usd", "US dollar", 2, Rail.CARD, "$"),
        Currency("eur", "Euro", 2, Rail.CARD, "€"),
        Currency("gbp", "Pound sterling", 2, Rail.CARD, "£"),
        Currency("eth", "Ether", 18, Rail.CHAIN, "Ξ"),
        Currency("usdc", "USD Coin", 6, Rail.CHAIN, "USDC "),
    )
}
CURRENCY_CHOICES = [(c.code, f"{c.code.upper()} — {c.name}") for c in CURRENCIES.values()]


def currency_field(**kwargs: object) -> models.CharField:
    return models.CharField(max_length=8, choices=CURRENCY_CHOICES, **kwargs)  # type: ignore[arg-type]


def format_amount(amount: int | Decimal, currency: str) -> str:
    """`250000`, `usd` -> `$2,500.00`; only templates and serializers format."""
    spec = CURRENCIES[currency]
    value = Decimal(int(amount)).scaleb(-spec.exponent)
    shown = min(spec.exponent, 6)
    return f"{spec.symbol}{value:,.{shown}f}"


def to_minor_units(major: Decimal | str, currency: str) -> int:
    """`"25.50"`, `usd` -> `2550`; refuses more precision than the currency has."""
    spec = CURRENCIES[currency]
    scaled = Decimal(major).scaleb(spec.exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency.upper()} has at most {spec.exponent} decimal places.")
    return int(scaled)
