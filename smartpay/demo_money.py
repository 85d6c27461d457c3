"""Demo money: the active contract's first milestone paid by card (sandbox) and
delivered, so the client can approve and the freelancer sees escrow at work."""

from __future__ import annotations

from collections.abc import Callable

from escrow.models import Funding
from escrow.rails import sandbox
from escrow.services.funding import confirm_funding, start_funding
from marketplace.models import Contract, Milestone
from marketplace.services.milestones import submit_milestone
from smartpay.demo_marketplace import CONTRACT_FREELANCER, CONTRACT_JOB


def demo_contract() -> Contract | None:
    return Contract.objects.filter(
        job__title=CONTRACT_JOB, freelancer__email=CONTRACT_FREELANCER
    ).first()


def fund_by_card(contract: Contract, milestone: Milestone, request_key: str) -> None:
    """Pay ``milestone`` with the sandbox's test card and book the payment."""
    funding = start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key=request_key
    )
    if funding.provider == "sandbox" and funding.status == Funding.Status.PENDING:
        assert funding.payment_intent_id
        sandbox.confirm_payment(funding.payment_intent_id, "4242424242424242")
        # The signed event follows through the worker; booking it here keeps the
        # demo ready before the worker starts (the event is then a harmless repeat).
        confirm_funding(
            payment_intent_id=funding.payment_intent_id,
            amount_received=int(funding.amount),
            currency=funding.currency,
        )


def fund_and_deliver_first_milestone() -> None:
    contract = demo_contract()
    if contract is None:
        return
    milestone = contract.milestones.order_by("position").first()
    if milestone is None or milestone.status != Milestone.Status.DRAFT:
        return
    fund_by_card(contract, milestone, "demo-funding")
    submit_milestone(
        actor=contract.freelancer,
        milestone_id=milestone.pk,
        message="First delivery: the dashboard skeleton with the escrow balance widgets.",
    )


fund_and_deliver_first_milestone.own_transactions = True  # type: ignore[attr-defined]


def money_steps() -> list[tuple[str, Callable[[], object]]]:
    return [("a funded, delivered milestone", fund_and_deliver_first_milestone)]
