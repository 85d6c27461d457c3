"""Funding milestones: by card (a PaymentIntent, confirmed only by the signed
``payment_intent.succeeded`` webhook) or from the client's SmartPay balance.

A card charge lands in the client's *available* account first and then moves
into each milestone's escrow. So a payment that arrives for a milestone that
was meanwhile funded another way, cancelled or refunded stays in the client's
balance: no cent is lost, none is counted twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from escrow import ledger
from escrow.errors import ProviderUnavailable
from escrow.models import Funding, FundingItem, LedgerAccount
from escrow.rails import RailError, card_provider
from escrow.services import audited
from escrow.services.holds import is_frozen
from escrow.services.locks import lock_milestones, require_active_card_contract
from marketplace import lifecycle
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail, format_amount
from marketplace.services.contracts import lock_milestone, record_activity, workroom_url
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, NotFoundError

log = logging.getLogger(__name__)

MAX_MILESTONES_PER_FUNDING = 50
OPEN_STATUSES = (Funding.Status.CREATED, Funding.Status.PENDING, Funding.Status.FAILED)


def _milestone_ids(raw: list[int]) -> list[int]:
    try:
        ids = sorted({int(value) for value in raw})
    except (TypeError, ValueError):
        raise DomainError("Milestones are given by their ids.", code="invalid_milestones") from None
    if not ids:
        raise DomainError("Choose at least one milestone to fund.", code="milestones_required")
    if len(ids) > MAX_MILESTONES_PER_FUNDING:
        raise DomainError(
            f"Fund at most {MAX_MILESTONES_PER_FUNDING} milestones at once.",
            code="too_many_milestones",
        )
    return ids


def start_funding(
    *, actor: User, milestone_ids: list[int], request_key: str, source: str = "card"
) -> Funding:
    """The client pays for one or more draft milestones of one contract.

    The same ``request_key`` again returns the same funding (and resumes a card
    payment whose provider call failed before). Earlier unfinished card payments
    for these milestones are cancelled.
    """
    if source not in Funding.Source.values:
        raise DomainError("Pay by card or from your balance.", code="invalid_source")
    ids = _milestone_ids(milestone_ids)
    key = f"{actor.pk}:{request_key}"[:300]
    funding = Funding.objects.filter(request_key=key).first()
    superseded: list[str] = []
    if funding is None:
        try:
            funding, superseded = _create_funding(actor, ids, key, source)
        except IntegrityError:
            # A twin request with the same key committed first: answer as it did.
            funding = Funding.objects.filter(request_key=key).first()
            if funding is None:
                raise
    same = set(funding.items.values_list("milestone_id", flat=True)) == set(ids)
    if not same or funding.source != source:
        raise Conflict(
            "This request key already paid for other milestones.", code="request_key_reused"
        )
    for payment_intent_id in superseded:
        _cancel_at_provider(payment_intent_id)
    return _ensure_payment_intent(funding)


def _create_funding(
    actor: User, ids: list[int], key: str, source: str
) -> tuple[Funding, list[str]]:
    with transaction.atomic(durable=True):
        contract, _ = lock_milestone(ids[0], actor=actor, role="client")
        twin = Funding.objects.filter(request_key=key).first()
        if twin is not None:  # committed while we waited for the lock
            return twin, []
        require_active_card_contract(contract)
        milestones = lock_milestones(contract, ids)
        for milestone in milestones:
            if milestone.status != Milestone.Status.DRAFT:
                raise Conflict(
                    f"“{milestone.title}” is {milestone.get_status_display().lower()}; "
                    "only unfunded milestones can be funded.",
                    code="milestone_not_draft",
                )
        superseded = _supersede_open_fundings(ids)
        funding = Funding.objects.create(
            client=actor,
            contract=contract,
            source=source,
            currency=contract.currency,
            amount=sum(int(milestone.amount) for milestone in milestones),
            request_key=key,
        )
        audit.record(
            actor, "funding.started", funding, after=audit.snapshot(funding, audited.FUNDING)
        )
        FundingItem.objects.bulk_create(
            FundingItem(funding=funding, milestone=milestone, amount=milestone.amount)
            for milestone in milestones
        )
        if source == Funding.Source.BALANCE:
            _fund_from_balance(funding, contract, milestones, actor)
    return funding, superseded


def _supersede_open_fundings(milestone_ids: list[int]) -> list[str]:
    """Cancel unfinished fundings of these milestones (an abandoned checkout, say);
    return their payment intents to cancel at the provider after commit."""
    stale = Funding.objects.select_for_update().filter(
        items__milestone_id__in=milestone_ids, status__in=OPEN_STATUSES
    )
    intents = [f.payment_intent_id for f in stale if f.payment_intent_id]
    Funding.objects.filter(pk__in=[f.pk for f in stale]).update(
        status=Funding.Status.CANCELED, updated_at=timezone.now()
    )
    return intents


def _fund_from_balance(
    funding: Funding, contract: Contract, milestones: list[Milestone], actor: User
) -> None:
    available = ledger.user_account(actor, LedgerAccount.Kind.AVAILABLE, funding.currency)
    escrows = {m.pk: ledger.escrow_account(m) for m in milestones}
    ledger.lock_accounts(available, *escrows.values())
    for milestone in milestones:
        ledger.move(
            source=available,
            destination=escrows[milestone.pk],
            amount=int(milestone.amount),
            key=f"fund-balance:{funding.pk}:{milestone.pk}",
            memo=f"Funded “{milestone.title}” from balance",
        )
        _mark_funded(milestone, actor, "Funded from the client's balance")
    FundingItem.objects.filter(funding=funding).update(applied=True)
    funding.status = Funding.Status.SUCCEEDED
    funding.succeeded_at = timezone.now()
    funding.save(update_fields=["status", "succeeded_at", "updated_at"])
    _announce_funded(contract, actor, milestones, funding)


def _ensure_payment_intent(funding: Funding) -> Funding:
    """Create the PaymentIntent for a card funding that has none yet. Runs outside
    any transaction: the provider's idempotency key makes a repeat call safe."""
    if (
        funding.source != Funding.Source.CARD
        or funding.payment_intent_id
        or funding.status != Funding.Status.CREATED
    ):
        return funding
    provider = card_provider()
    milestone_ids = ",".join(str(pk) for pk in funding.items.values_list("milestone_id", flat=True))
    try:
        intent = provider.create_payment_intent(
            amount=int(funding.amount),
            currency=funding.currency,
            metadata={
                "funding_id": str(funding.pk),
                "contract_id": str(funding.contract_id),
                "milestone_ids": milestone_ids,
            },
            idempotency_key=f"funding-{funding.pk}",
        )
    except RailError as error:
        if not error.permanent:
            raise ProviderUnavailable() from error
        with transaction.atomic():
            before = audit.snapshot(funding, audited.FUNDING)
            refused = Funding.objects.filter(pk=funding.pk, status=Funding.Status.CREATED).update(
                status=Funding.Status.FAILED, failure_message=error.message[:500]
            )
            if refused:
                funding.refresh_from_db()
                after = audit.snapshot(funding, audited.FUNDING)
                audit.record(None, "funding.failed", funding, before=before, after=after)
        raise DomainError(
            f"The card processor refused the payment: {error.message}", code="payment_refused"
        ) from error
    # Stripe has no checkout URL for a PaymentIntent: our page mounts its Payment Element.
    checkout_url = intent.checkout_url or reverse("escrow_funding_pay", args=[funding.pk])
    if checkout_url.startswith(settings.SITE_URL + "/"):
        # A path keeps the browser on the host it uses (its session cookie is there).
        checkout_url = checkout_url[len(settings.SITE_URL) :]
    Funding.objects.filter(pk=funding.pk, status=Funding.Status.CREATED).update(
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        checkout_url=checkout_url,
        provider=provider.name,
        status=Funding.Status.PENDING,
        updated_at=timezone.now(),
    )
    funding.refresh_from_db()
    return funding


def _cancel_at_provider(payment_intent_id: str) -> None:
    try:
        card_provider().cancel_payment_intent(
            payment_intent_id, idempotency_key=f"cancel-{payment_intent_id}"
        )
    except RailError as error:
        # Harmless if it fails: a late payment still lands in the client's balance.
        log.warning("could not cancel %s: %s", payment_intent_id, error.message)


def cancel_funding(*, actor: User, funding_id: int) -> Funding:
    """The client abandons a card payment that has not gone through."""
    with transaction.atomic(durable=True):
        funding = Funding.objects.select_for_update().filter(pk=funding_id, client=actor).first()
        if funding is None:
            raise NotFoundError("No such payment.")
        if funding.status == Funding.Status.CANCELED:
            return funding
        if funding.status not in OPEN_STATUSES:
            raise Conflict(
                f"This payment is {funding.get_status_display().lower()}.", code="funding_closed"
            )
        before = audit.snapshot(funding, audited.FUNDING)
        funding.status = Funding.Status.CANCELED
        funding.save(update_fields=["status", "updated_at"])
        audit.record(
            actor,
            "funding.cancelled",
            funding,
            before=before,
            after=audit.snapshot(funding, audited.FUNDING),
        )
    if funding.payment_intent_id:
        _cancel_at_provider(funding.payment_intent_id)
    return funding


def confirm_funding(
    *, payment_intent_id: str, amount_received: int, currency: str
) -> Funding | None:
    """``payment_intent.succeeded``: book the charge, then fund what is still unfunded.

    Idempotent: the charge's ledger key is the payment intent, each milestone's is
    the funding and milestone, and a milestone is funded by one funding only.
    """
    contract_id = (
        Funding.objects.filter(payment_intent_id=payment_intent_id)
        .values_list("contract_id", flat=True)
        .first()
    )
    if contract_id is None:
        log.warning("payment %s succeeded but no funding has it", payment_intent_id)
        return None
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        funding = Funding.objects.select_for_update().get(payment_intent_id=payment_intent_id)
        if funding.status == Funding.Status.SUCCEEDED:
            return funding
        if currency.lower() != funding.currency or int(amount_received) <= 0:
            raise DomainError(
                f"Payment {payment_intent_id} reports {amount_received} {currency}.",
                code="payment_mismatch",
            )
        client = funding.client
        available = ledger.user_account(client, LedgerAccount.Kind.AVAILABLE, funding.currency)
        external = ledger.external_account(Rail.CARD, funding.currency)
        items = {item.milestone_id: item for item in funding.items.all()}
        milestones = lock_milestones(contract, items)
        escrows = {m.pk: ledger.escrow_account(m) for m in milestones}
        ledger.lock_accounts(external, available, *escrows.values())
        ledger.move(
            source=external,
            destination=available,
            amount=int(amount_received),
            key=f"charge:{payment_intent_id}",
            memo=f"Card payment {payment_intent_id}",
        )
        before = audit.snapshot(funding, audited.FUNDING)
        funded = []
        for milestone in milestones:
            if _apply_item(
                funding, items[milestone.pk], milestone, available, escrows[milestone.pk]
            ):
                funded.append(milestone)
        funding.status = Funding.Status.SUCCEEDED
        funding.succeeded_at = timezone.now()
        funding.save(update_fields=["status", "succeeded_at", "updated_at"])
        audit.record(
            None,
            "funding.succeeded",
            funding,
            before=before,
            after=audit.snapshot(funding, audited.FUNDING),
        )
        if funded:
            _announce_funded(contract, client, funded, funding)
        if len(funded) < len(items):
            record_activity(
                contract,
                None,
                "payment_kept_in_balance",
                "A card payment arrived for milestones that no longer needed it; "
                "the money is in the client's SmartPay balance.",
            )
    return funding


def _apply_item(
    funding: Funding,
    item: FundingItem,
    milestone: Milestone,
    available: LedgerAccount,
    escrow: LedgerAccount,
) -> bool:
    if milestone.status != Milestone.Status.DRAFT or is_frozen(milestone):
        return False
    if funding.contract.status != Contract.Status.ACTIVE:
        return False
    ledger.move(
        source=available,
        destination=escrow,
        amount=int(item.amount),
        key=f"fund:{funding.pk}:{milestone.pk}",
        memo=f"Funded “{milestone.title}”",
    )
    _mark_funded(milestone, funding.client, f"Card payment {funding.payment_intent_id}")
    item.applied = True
    item.save(update_fields=["applied"])
    return True


def _mark_funded(milestone: Milestone, actor: User | None, note: str) -> None:
    before = audit.snapshot(milestone, audited.MILESTONE)
    lifecycle.transition_milestone(milestone, Milestone.Status.FUNDED, actor=actor, note=note)
    after = audit.snapshot(milestone, audited.MILESTONE)
    audit.record(actor, "milestone.funded", milestone, before=before, after=after, note=note)


def _announce_funded(
    contract: Contract, client: User, milestones: list[Milestone], funding: Funding
) -> None:
    titles = ", ".join(f"“{m.title}”" for m in milestones)
    total = sum(int(m.amount) for m in milestones)
    record_activity(
        contract,
        client,
        "milestone_funded",
        f"{format_amount(total, funding.currency)} is in escrow for {titles}.",
    )
    for user_id in (contract.client_id, contract.freelancer_id):
        notify(user_id, "milestone_funded", f"Funded: {titles}", workroom_url(contract))


def fail_funding(*, payment_intent_id: str, message: str) -> Funding | None:
    """``payment_intent.payment_failed``. Not final: the client may try another card
    on the same payment, and a later success still funds."""
    with transaction.atomic():
        funding = (
            Funding.objects.select_for_update().filter(payment_intent_id=payment_intent_id).first()
        )
        if funding is None or funding.status not in (
            Funding.Status.CREATED,
            Funding.Status.PENDING,
        ):
            return funding
        before = audit.snapshot(funding, audited.FUNDING)
        funding.status = Funding.Status.FAILED
        funding.failure_message = (message or "The card was declined.")[:500]
        funding.save(update_fields=["status", "failure_message", "updated_at"])
        audit.record(
            None,
            "funding.failed",
            funding,
            before=before,
            after=audit.snapshot(funding, audited.FUNDING),
        )
        notify(
            funding.client_id,
            "payment_failed",
            f"Card payment failed: {funding.failure_message}",
            workroom_url(funding.contract),
        )
    return funding


def funding_of(milestone: Milestone) -> Funding | None:
    """The funding whose money is in this milestone's escrow."""
    item = (
        FundingItem.objects.filter(milestone=milestone, applied=True)
        .select_related("funding")
        .first()
    )
    return item.funding if item else None
