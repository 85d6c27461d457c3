"""The workroom's money panel on the chain rail, and the buttons on it.

The panel says in words where each milestone stands and offers the actions its viewer
may take. Each button POSTs here; the answer is the unsigned transactions as JSON, which
``static/js/chain_wallet.js`` sends from the browser wallet, then it waits for
confirmations and reloads the panel. Nothing here changes state: chain sync does, once
the transactions are confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from escrow.chain.node import ChainUnavailable
from escrow.chain.transactions import UnsignedTransaction
from escrow.forms import parse_amount
from escrow.models import ChainEscrow
from escrow.services import chain_actions
from escrow.services import chain_checks as check
from escrow.services.chain_withdrawal import Credit
from marketplace.models import Contract, Milestone, Submission, User
from marketplace.money import format_amount
from marketplace.permissions import UNVERIFIED_DETAIL, acting_user, has_verified_email
from smartpay.errors import DomainError, NotFoundError

S = Milestone.Status

# What each party may do, by the milestone's status (the services check again).
CLIENT_ACTIONS = {
    S.DRAFT: ("fund",),
    S.FUNDED: ("release", "refund-request", "dispute"),
    S.SUBMITTED: ("release", "revision", "dispute"),
}
FREELANCER_ACTIONS = {
    S.FUNDED: ("submit", "refund", "dispute"),
    S.SUBMITTED: ("refund", "dispute"),
}
# The on-chain status each DB status corresponds to; anything else is pending sync.
CHAIN_STATUS_OF = {
    S.DRAFT: "Unfunded",
    S.FUNDED: "Funded",
    S.SUBMITTED: "Submitted",
    S.RELEASED: "Released",
    S.REFUNDED: "Refunded",
    S.DISPUTED: "Disputed",
    S.RESOLVED: "Resolved",
}


@dataclass
class ChainRow:
    milestone: Milestone
    amount_display: str
    words: str
    actions: tuple[str, ...] = ()
    chain_status: str = ""  # on chain, when it differs from ours (waiting for sync)
    refund_requested: bool = False
    submissions: list[Submission] = field(default_factory=list)


def _words(milestone: Milestone, amount: str) -> str:
    deadline = milestone.review_deadline
    return {
        S.DRAFT: "Not funded yet.",
        S.FUNDED: f"Funded: {amount} is held by the escrow contract while the freelancer works.",
        S.SUBMITTED: f"Work submitted: {amount} is held by the escrow contract while the client "
        "reviews it"
        + (f"; anyone may release it after {deadline:%d %b %Y, %H:%M}." if deadline else "."),
        S.RELEASED: "Released: the freelancer's share was credited to them in the escrow contract.",
        S.REFUNDED: f"Refunded: {amount} was credited back to the client in the escrow contract.",
        S.DISPUTED: f"In dispute: {amount} is locked in the escrow contract until the arbiter "
        "decides.",
        S.RESOLVED: "Dispute resolved: the arbiter's split was credited in the escrow contract.",
    }[S(milestone.status)]


def _onchain(escrow: ChainEscrow | None) -> tuple[check.OnChainEscrow | None, str]:
    """The escrow as the node sees it, and a note in words when the node cannot say."""
    if escrow is None:
        return None, ""
    try:
        return check.read_escrow(check.escrow_on_node(), int(escrow.onchain_id)), ""
    except ChainUnavailable as error:
        return None, error.detail


def _credits(user: User, currency: str) -> tuple[list[Credit], str]:
    try:
        return chain_actions.withdrawable(user, currency), ""
    except DomainError as error:
        return [], error.detail


def panel_context(contract: Contract, user: User) -> dict[str, Any]:
    """What the chain panel shows ``user`` (a party of ``contract``)."""
    is_client = contract.client_id == user.pk
    escrow = ChainEscrow.objects.filter(contract=contract).first()
    found, node_note = _onchain(escrow)
    indexes = {pk: i for i, pk in enumerate(escrow.milestone_ids)} if escrow else {}
    by_role = CLIENT_ACTIONS if is_client else FREELANCER_ACTIONS
    active = contract.status == Contract.Status.ACTIVE
    rows = []
    for milestone in contract.milestones.order_by("position").prefetch_related("submissions"):
        amount = format_amount(milestone.amount, contract.currency)
        actions = by_role.get(S(milestone.status), ()) if active else ()
        row = ChainRow(milestone, amount, _words(milestone, amount), actions)
        row.submissions = sorted(milestone.submissions.all(), key=lambda s: -s.number)
        index = indexes.get(milestone.pk)
        if found is not None and index is not None and index < len(found.milestones):
            state = found.milestones[index]
            row.refund_requested = state.refund_requested
            if state.status != CHAIN_STATUS_OF[S(milestone.status)]:
                row.chain_status = check.CHAIN_STATUS_WORDS[state.status]
                row.actions = ()  # wait for sync rather than offer a transaction that reverts
        rows.append(row)
    # A node that just failed would only fail again, slowly: skip the second read.
    credits, credit_note = ([], node_note) if node_note else _credits(user, contract.currency)
    other = contract.freelancer if is_client else contract.client
    return {
        "contract": contract,
        "is_client": is_client,
        "escrow": escrow,
        "escrow_on_chain": found is not None,
        "node_note": node_note,
        "rows": rows,
        "wallets": check.linked_wallets(user),
        "other_has_wallet": bool(check.linked_wallets(other)),
        "other": other,
        "credits": credits,
        "credit_total": format_amount(sum(c.amount for c in credits), contract.currency),
        "credit_note": credit_note,
        "chain_id": settings.CHAIN_ID,
        "confirmations": settings.CHAIN_CONFIRMATIONS,
        "fee_percent": f"{contract.fee_bps / 100:g} %",
    }


def render_panel(request: HttpRequest, contract: Contract, *, htmx: bool) -> HttpResponse:
    context = panel_context(contract, acting_user(request))
    template = "escrow/chain/_panel.html" if htmx else "escrow/chain/contract_money.html"
    return render(request, template, context)


# --- the buttons: JSON for the wallet script ----------------------------------------------


def _json_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def wallet_json(view: Callable[..., list[UnsignedTransaction]]) -> Callable[..., HttpResponse]:
    """Run a view that returns transactions; answer as the API does, errors included."""

    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _json_error(401, "not_authenticated", "Log in first.")
        if not has_verified_email(request.user):
            return _json_error(403, "email_unverified", UNVERIFIED_DETAIL)
        try:
            transactions = view(request, *args, **kwargs)
        except DomainError as error:
            return _json_error(error.status_code, error.code, error.detail)
        except forms.ValidationError as error:
            return _json_error(400, "invalid", " ".join(error.messages))
        return JsonResponse(
            {
                "rail": "chain",
                "transactions": transactions,
                "confirmations": settings.CHAIN_CONFIRMATIONS,
            }
        )

    return wrapper


def _options(request: HttpRequest) -> dict[str, Any]:
    chain_id = request.POST.get("chain_id") or None
    if chain_id is not None and not chain_id.isdigit():
        raise DomainError("The chain id is a number.", code="wrong_chain")
    return {
        "sender": request.POST.get("from") or None,
        "chain_id": int(chain_id) if chain_id else None,
    }


def _release_amount(request: HttpRequest, milestone_id: int) -> int | None:
    raw = (request.POST.get("amount") or "").strip()
    if not raw:
        return None
    milestone = check.party_milestone(acting_user(request), milestone_id)
    return parse_amount(raw, milestone.contract.currency)


ACTIONS: dict[str, Callable[[HttpRequest, int], list[UnsignedTransaction]]] = {
    "fund": lambda request, pk: chain_actions.prepare_funding(
        actor=acting_user(request), milestone_ids=[pk], **_options(request)
    ),
    "submit": lambda request, pk: chain_actions.prepare_submission(
        actor=acting_user(request),
        milestone_id=pk,
        message=request.POST.get("message", ""),
        files=request.FILES.getlist("files"),
        **_options(request),
    ),
    "revision": lambda request, pk: chain_actions.prepare_revision_request(
        actor=acting_user(request),
        milestone_id=pk,
        reason=request.POST.get("reason", ""),
        **_options(request),
    ),
    "release": lambda request, pk: chain_actions.prepare_release(
        actor=acting_user(request),
        milestone_id=pk,
        amount=_release_amount(request, pk),
        **_options(request),
    ),
    "refund": lambda request, pk: chain_actions.prepare_refund(
        actor=acting_user(request), milestone_id=pk, **_options(request)
    ),
    "refund-request": lambda request, pk: chain_actions.prepare_refund(
        actor=acting_user(request), milestone_id=pk, **_options(request)
    ),
    "dispute": lambda request, pk: chain_actions.prepare_dispute(
        actor=acting_user(request), milestone_id=pk, **_options(request)
    ),
}


@wallet_json
def milestone_action(request: HttpRequest, pk: int, action: str) -> list[UnsignedTransaction]:
    """One button of the panel: the transactions for ``action`` on milestone ``pk``."""
    run = ACTIONS.get(action)
    if run is None:
        raise NotFoundError("No such action.")
    check.party_milestone(acting_user(request), pk)  # someone else's: 404 before the body
    return run(request, pk)


@wallet_json
def withdraw(request: HttpRequest) -> list[UnsignedTransaction]:
    return chain_actions.prepare_withdrawal(
        actor=acting_user(request),
        currency=request.POST.get("currency", ""),
        to=request.POST.get("to") or None,
        **_options(request),
    )
