"""Money helpers for escrow tests: real services all the way (sandbox provider by
default, the fake Stripe server when a test asks for it)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from django.http import StreamingHttpResponse

from escrow import ledger
from escrow.models import Funding, LedgerAccount, PayoutAccount
from escrow.rails import sandbox
from escrow.services import funding as funding_services
from escrow.services import payout_accounts
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail
from marketplace.services import milestones as milestone_services
from tests.factories import make_contract, make_job, make_proposal, verified_user

_keys = itertools.count(1)


def card_contract(amounts: tuple[int, ...] = (100_000, 150_000)) -> Contract:
    """An active USD contract between a verified client and a verified freelancer."""
    client = verified_user(is_client=True)
    freelancer = verified_user(is_client=False, is_freelancer=True)
    return make_contract(make_proposal(make_job(client), freelancer, amounts=amounts))


def top_up(user: User, amount: int, currency: str = "usd") -> None:
    """Put money in a user's available balance, as a card payment would."""
    ledger.move(
        source=ledger.external_account(Rail.CARD, currency),
        destination=ledger.user_account(user, LedgerAccount.Kind.AVAILABLE, currency),
        amount=amount,
        key=f"test-top-up:{uuid.uuid4()}",
    )


def balance(user: User, kind: str = "available", currency: str = "usd") -> int:
    return int(ledger.user_account(user, kind, currency).balance)


def fees(currency: str = "usd") -> int:
    """What the platform earned in ``currency``."""
    return int(ledger.fee_account(currency).balance)


def escrow_of(milestone: Milestone) -> int:
    return int(ledger.escrow_account(milestone).balance)


def pay_by_card(milestones: list[Milestone]) -> Funding:
    """Start a card funding and confirm it as the succeeded webhook would."""
    client = milestones[0].contract.client
    funding = funding_services.start_funding(
        actor=client, milestone_ids=[m.pk for m in milestones], request_key=f"k{next(_keys)}"
    )
    assert funding.payment_intent_id
    if funding.provider == "sandbox":
        # As on the checkout page; its event is then delivered as the webhook would.
        sandbox.confirm_payment(funding.payment_intent_id, "4242424242424242")
    confirmed = funding_services.confirm_funding(
        payment_intent_id=funding.payment_intent_id,
        amount_received=int(funding.amount),
        currency=funding.currency,
    )
    assert confirmed is not None
    for milestone in milestones:
        milestone.refresh_from_db()
    return confirmed


def intent_of(funding: Funding) -> str:
    """The funding's PaymentIntent id, which every card funding has once started."""
    assert funding.payment_intent_id
    return funding.payment_intent_id


def fund(milestone: Milestone) -> Milestone:
    pay_by_card([milestone])
    return milestone


def submit(milestone: Milestone) -> Milestone:
    milestone_services.submit_milestone(
        actor=milestone.contract.freelancer, milestone_id=milestone.pk, message="Done."
    )
    milestone.refresh_from_db()
    return milestone


def first_milestone(contract: Contract) -> Milestone:
    milestone = contract.milestones.order_by("position").first()
    assert milestone is not None
    return milestone


def streamed(response: object) -> str:
    """The body of a streamed response (CSV exports)."""
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()  # type: ignore[arg-type]


def enable_payouts(user: User, fake_stripe: Any = None) -> PayoutAccount:
    """Connect ``user``'s payout account and finish onboarding, on the fake Stripe
    server when given, else on the sandbox; then sync it as the return page does."""
    payout_accounts.connect_payout_account(actor=user, return_url="/", refresh_url="/")
    account_id = PayoutAccount.objects.get(user=user).account_id
    if fake_stripe is not None:
        fake_stripe.complete_onboarding(account_id)
    else:
        sandbox.complete_onboarding(account_id)
    account = payout_accounts.sync_payout_account(account_id=account_id)
    assert account is not None
    assert account.payouts_enabled
    return account
