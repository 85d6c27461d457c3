"""``{{ amount|money:currency }}``: minor units in words for people, e.g. "$1,250.00"."""

from __future__ import annotations

from decimal import Decimal

from django import template

from marketplace.money import CURRENCIES, format_amount

register = template.Library()


@register.filter
def money(amount: int | Decimal | None, currency: str) -> str:
    if amount is None or currency not in CURRENCIES:
        return ""
    return format_amount(amount, currency)
