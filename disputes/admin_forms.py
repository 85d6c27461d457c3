"""Forms of the arbiter console's case page. They parse input only: the services
(resolve_dispute, confirm_decision, assign_arbiter) decide what is allowed, and
their refusals are shown as admin messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from disputes.models import BPS
from escrow.services.release import fee_for
from marketplace.money import CURRENCIES, format_amount

SPLIT_STEPS = (0, 2_500, 5_000, 7_500, BPS)


@dataclass(frozen=True)
class Split:
    """What a share in basis points gives each side of ``held``: the freelancer's
    gross share pays the platform fee, the rest goes back to the client."""

    bps: int
    held: int
    fee_bps: int
    currency: str

    @property
    def gross(self) -> int:
        return self.held * self.bps // BPS

    @property
    def fee(self) -> int:
        return fee_for(self.gross, self.fee_bps)

    @property
    def to_freelancer(self) -> int:
        return self.gross - self.fee

    @property
    def to_client(self) -> int:
        return self.held - self.gross

    @property
    def percent(self) -> str:
        return f"{self.bps / 100:g} %"

    @property
    def money_held(self) -> str:
        return self.money(self.held)

    @property
    def freelancer_shown(self) -> str:
        return self.money(self.to_freelancer)

    @property
    def fee_shown(self) -> str:
        return self.money(self.fee)

    @property
    def client_shown(self) -> str:
        return self.money(self.to_client)

    def money(self, amount: int) -> str:
        return format_amount(amount, self.currency)

    def in_words(self) -> str:
        return (
            f"At {self.percent}: the freelancer gets {self.money(self.to_freelancer)} "
            f"({self.money(self.gross)} less the {self.money(self.fee)} fee), the client "
            f"gets {self.money(self.to_client)} back."
        )


def parse_bps(raw: object, default: int) -> int:
    """A posted share for the preview only; the service validates what it executes."""
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return default
    return min(max(value, 0), BPS)


class ResolveForm(forms.Form):
    freelancer_share_bps = forms.IntegerField(
        label="Freelancer's share (basis points: 10000 = all of it)",
        widget=forms.NumberInput(attrs={"min": 0, "max": BPS, "step": 1, "data-split-number": ""}),
    )
    rationale = forms.CharField(
        label="Rationale (both parties read it)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
    )

    def __init__(self, *args: Any, held: int, fee_bps: int, currency: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.held, self.fee_bps, self.currency = held, fee_bps, currency
        field = self.fields["freelancer_share_bps"]
        field.help_text = self.split().in_words()

    def split(self) -> Split:
        default = int(self.initial.get("freelancer_share_bps") or BPS // 2)
        raw = self.data.get("freelancer_share_bps") if self.is_bound else default
        return Split(parse_bps(raw, default), self.held, self.fee_bps, self.currency)

    def steps(self) -> list[Split]:
        """The split at a few shares, for a page without JavaScript."""
        return [Split(bps, self.held, self.fee_bps, self.currency) for bps in SPLIT_STEPS]

    def slider_data(self) -> dict[str, str]:
        """What static/js/admin_split.js needs to show the money live."""
        spec = CURRENCIES[self.currency]
        return {
            "held": str(self.held),
            "fee_bps": str(self.fee_bps),
            "exponent": str(spec.exponent),
            "symbol": spec.symbol,
        }


class ConfirmForm(forms.Form):
    agree = forms.TypedChoiceField(
        label="Your decision",
        choices=[("yes", "I agree: the decision stands"), ("no", "I disagree: send it back")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note (required when you disagree)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
    )


class AssignForm(forms.Form):
    arbiter = forms.IntegerField(
        label="Arbiter",
        required=False,
        help_text="Round-robin picks the eligible arbiter with the fewest open cases.",
    )

    def __init__(self, *args: Any, eligible: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [("", "Round-robin by load"), *eligible]
        self.fields["arbiter"].widget = forms.Select(choices=choices)
