"""Currencies and amounts. Amounts are whole numbers of the smallest unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models

from smartpay.errors import DomainError

# NUMERIC(78, 0): a uint256 fits; a 64-bit integer overflows at ~9.2 ETH in wei.
AMOUNT_DIGITS = 78


# SQLite keeps an integer exactly only below 2**63 (about 9.22 ETH in wei); above, it
# stores a float. The embedded default refuses such amounts rather than round them.
SQLITE_AMOUNT_LIMIT = 2**63


class AmountTooLarge(DomainError):
    """An amount the embedded SQLite database cannot hold exactly."""

    code = "amount_too_large"


class AmountField(models.DecimalField):
    """NUMERIC(78, 0) read back exactly on every database.

    Django's SQLite backend reads decimals through a 15-significant-digit float
    converter (``2*10**18 + 1`` comes back as ``2*10**18``). Wei needs every digit,
    so on SQLite this field skips that converter: the column holds an exact INTEGER
    and ``from_db_value`` turns it into a ``Decimal`` without rounding. Migrations see
    a plain ``DecimalField`` (``deconstruct``), so the schema is unchanged.
    """

    def get_internal_type(self) -> str:
        # A type of its own, so the SQLite backend's rounding converter never applies.
        return "AmountField"

    def db_type(self, connection: Any) -> str | None:
        return str(connection.data_types["DecimalField"] % self.db_type_parameters(connection))

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            # Only a value SQLite could not hold as an integer comes back as a float.
            raise AmountTooLarge(f"{value!r} was stored inexactly (SQLite limit 2**63).")
        return Decimal(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if (
            connection.vendor == "sqlite"
            and value is not None
            and not hasattr(value, "resolve_expression")
            and abs(int(value)) >= SQLITE_AMOUNT_LIMIT
        ):
            raise AmountTooLarge(
                f"{value} is too large for the embedded SQLite database (at most "
                f"{SQLITE_AMOUNT_LIMIT - 1}); run SmartPay on PostgreSQL for larger amounts."
            )
        return super().get_db_prep_value(value, connection, prepared)


def amount_field(**kwargs: object) -> models.DecimalField:
    return AmountField(max_digits=AMOUNT_DIGITS, decimal_places=0, **kwargs)  # type: ignore[arg-type]


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
