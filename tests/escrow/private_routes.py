"""Escrow routes whose objects are private, for tests/test_cross_user_access.py.

Each maker builds an object private to ``owner`` and returns the route's kwargs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from escrow.models import Funding, FundingItem, Payout, PayoutAccount, Refund, RefundRequest
from escrow.rails.sandbox import SandboxProvider
from marketplace.models import Contract, User
from tests.factories import make_contract, make_job, make_proposal

# --- sandbox pages ----------------------------------------------------------------------------


def sandbox_funding(owner: User) -> Funding:
    """A pending card funding of the first milestone of a contract ``owner`` is the client of."""
    contract = make_contract(make_proposal(make_job(owner)))
    milestone = contract.milestones.order_by("position").first()
    assert milestone is not None
    amount = int(milestone.amount)
    key = f"funding-{uuid.uuid4()}"
    intent = SandboxProvider().create_payment_intent(
        amount=amount,
        currency=contract.currency,
        metadata={"contract_id": str(contract.pk), "milestone_ids": str(milestone.pk)},
        idempotency_key=key,
    )
    funding = Funding.objects.create(
        client=owner,
        contract=contract,
        currency=contract.currency,
        amount=amount,
        status=Funding.Status.PENDING,
        provider="sandbox",
        request_key=key,
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        checkout_url=intent.checkout_url,
    )
    FundingItem.objects.create(funding=funding, milestone=milestone, amount=amount)
    return funding


def sandbox_payout_account(owner: User) -> PayoutAccount:
    """``owner``'s connected account in the sandbox, onboarding not finished."""
    info = SandboxProvider().create_connected_account(
        email=owner.email, country="US", metadata={}, idempotency_key=f"acct-{uuid.uuid4()}"
    )
    return PayoutAccount.objects.create(user=owner, provider="sandbox", account_id=info.id)


SANDBOX_PRIVATE: dict[str, Callable[[User], dict[str, object]]] = {
    "sandbox_checkout": lambda owner: {
        "payment_intent_id": sandbox_funding(owner).payment_intent_id
    },
    "sandbox_onboarding": lambda owner: {"account_id": sandbox_payout_account(owner).account_id},
}


# --- money pages and the escrow API -----------------------------------------------------------


def _owned_contract(owner: User) -> Contract:
    """An active card contract where ``owner`` is the client."""
    return make_contract(make_proposal(make_job(owner)))


def _contract_pk(owner: User) -> dict[str, object]:
    return {"pk": _owned_contract(owner).pk}


def _milestone_pk(owner: User) -> dict[str, object]:
    milestone = _owned_contract(owner).milestones.order_by("position").first()
    assert milestone is not None
    return {"pk": milestone.pk}


def _chain_milestone(owner: User) -> dict[str, object]:
    """The first milestone of an ETH (chain-rail) contract where ``owner`` is the client."""
    contract = make_contract(make_proposal(make_job(owner, currency="eth")))
    milestone = contract.milestones.order_by("position").first()
    assert milestone is not None
    return {"pk": milestone.pk}


def _chain_action(owner: User) -> dict[str, object]:
    return {**_chain_milestone(owner), "action": "release"}


def _funding_pk(owner: User) -> dict[str, object]:
    return {"pk": sandbox_funding(owner).pk}


def _refund_request_pk(owner: User) -> dict[str, object]:
    milestone = _owned_contract(owner).milestones.order_by("position").first()
    assert milestone is not None
    refund_request = RefundRequest.objects.create(
        milestone=milestone,
        requested_by=owner,
        reason="Cancelled",
        destination=Refund.Destination.CARD,
        respond_by=timezone.now() + timedelta(days=7),
    )
    return {"pk": refund_request.pk}


def _payout_pk(owner: User) -> dict[str, object]:
    payout = Payout.objects.create(
        user=owner,
        account=sandbox_payout_account(owner),
        currency="usd",
        amount=5_000,
        request_key=f"{owner.pk}:{uuid.uuid4()}",
    )
    return {"pk": payout.pk}


MONEY_PRIVATE: dict[str, Callable[[User], dict[str, object]]] = {
    **dict.fromkeys(["escrow_contract_panel", "escrow_fund"], _contract_pk),
    **dict.fromkeys(
        [
            "milestone-fund",
            "milestone-approve",
            "milestone-refund",
            "milestone-refund-request",
            "escrow_approve",
            "escrow_refund",
            "escrow_refund_request",
        ],
        _milestone_pk,
    ),
    **dict.fromkeys(
        ["funding-detail", "funding-cancel", "escrow_funding_cancel", "money_funding_receipt"],
        _funding_pk,
    ),
    **dict.fromkeys(
        [
            "refund-request-withdraw",
            "refund-request-decline",
            "escrow_refund_request_withdraw",
            "escrow_refund_request_decline",
        ],
        _refund_request_pk,
    ),
    **dict.fromkeys(["payout-detail", "money_payout_receipt"], _payout_pk),
    # chain rail: the dispute endpoint and the panel's wallet buttons
    "milestone-dispute": _chain_milestone,
    "escrow_chain_action": _chain_action,
}
