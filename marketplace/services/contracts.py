"""Offers and contracts: send an offer, accept, decline or withdraw it, complete a contract.

Lock order, shared with marketplace.services.milestones: job -> proposal -> contract -> milestone.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from marketplace import lifecycle
from marketplace.models import Contract, ContractActivity, Job, Milestone, Proposal, User
from marketplace.money import CURRENCIES, Rail
from marketplace.permissions import UNVERIFIED_DETAIL, has_verified_email
from marketplace.services import audited
from notifications.chat import ensure_conversation
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, NotAllowed, NotFoundError

OPEN_PROPOSAL_STATUSES = (Proposal.Status.SUBMITTED, Proposal.Status.SHORTLISTED)
# A job has at most one contract in these states at a time.
LIVE_CONTRACT_STATUSES = (Contract.Status.OFFERED, Contract.Status.ACTIVE)


def require_verified(actor: User) -> None:
    if not has_verified_email(actor):
        raise NotAllowed(UNVERIFIED_DETAIL, code="email_unverified")


def record_activity(contract: Contract, actor: User | None, verb: str, summary: str) -> None:
    ContractActivity.objects.create(
        contract=contract, actor=actor, verb=verb, summary=summary[:300]
    )


def offer_url(contract: Contract) -> str:
    return reverse("offer_detail", args=[contract.pk])


def workroom_url(contract: Contract) -> str:
    return reverse("contract_workroom", args=[contract.pk])


def visible_contracts(user: User) -> Any:
    """Contracts ``user`` is a party to; everyone else gets a 404."""
    return Contract.objects.filter(Q(client=user) | Q(freelancer=user))


def lock_party_contract(actor: User, contract_id: int) -> Contract:
    """Lock and return a contract ``actor`` is party to, else NotFoundError."""
    contract = visible_contracts(actor).select_for_update().filter(pk=contract_id).first()
    if contract is None:
        raise NotFoundError("No such contract.")
    return contract


def lock_milestone(
    milestone_id: int, *, actor: User | None = None, role: str | None = None
) -> tuple[Contract, Milestone]:
    """Lock a milestone and its contract, in that order (contract first). With
    ``actor``, a stranger gets a 404 and the wrong party (``role`` "client" or
    "freelancer") a 403; without one (settlement tasks) any milestone is found."""
    scope = Milestone.objects.all()
    if actor is not None:
        scope = scope.filter(contract__in=visible_contracts(actor))
    contract_id = scope.filter(pk=milestone_id).values_list("contract_id", flat=True).first()
    if contract_id is None:
        raise NotFoundError("No such milestone.")
    contract = (
        Contract.objects.select_for_update(of=("self",))
        .select_related("client", "freelancer")
        .get(pk=contract_id)
    )
    if actor is not None and role is not None and getattr(contract, f"{role}_id") != actor.pk:
        raise NotAllowed(f"Only the {role} may do that.")
    return contract, Milestone.objects.select_for_update().get(pk=milestone_id)


def _resolve_rail(currency: str, rail: str | None) -> str:
    expected = CURRENCIES[currency].rail
    if rail is None or rail == "":
        return str(expected)
    if rail not in Rail.values or rail != expected:
        raise DomainError(
            f"{currency.upper()} is paid on the {Rail(expected).label} rail, not {rail}.",
            code="rail_currency_mismatch",
        )
    return rail


def offer_contract(*, actor: User, proposal_id: int, rail: str | None = None) -> Contract:
    """The job's owner turns a proposal into an offer: a snapshot of its terms.

    One offer per job at a time: the job row is locked first, so two offers for
    two proposals of the same job are serialised and the second is refused.
    """
    require_verified(actor)
    with transaction.atomic():
        job_id = (
            Proposal.objects.filter(pk=proposal_id, job__client=actor)
            .values_list("job_id", flat=True)
            .first()
        )
        if job_id is None:
            raise NotFoundError("No such proposal.")
        job = Job.objects.select_for_update().get(pk=job_id)
        proposal = Proposal.objects.select_for_update().get(pk=proposal_id)
        if (
            proposal.status not in OPEN_PROPOSAL_STATUSES
            or Contract.objects.filter(proposal=proposal).exists()
        ):
            raise Conflict(
                f"This proposal is already {proposal.get_status_display().lower()}.",
                code="proposal_decided",
            )
        if job.status != Job.Status.OPEN:
            raise Conflict(
                f"The job is {job.get_status_display().lower()}, not open.", code="job_not_open"
            )
        if Contract.objects.filter(job=job, status__in=LIVE_CONTRACT_STATUSES).exists():
            raise Conflict(
                "An offer on this job is still waiting for an answer, or the job has a contract.",
                code="offer_outstanding",
            )
        contract = Contract.objects.create(
            job=job,
            proposal=proposal,
            client=actor,
            freelancer_id=proposal.freelancer_id,
            title=job.title,
            currency=proposal.currency,
            rail=_resolve_rail(proposal.currency, rail),
            fee_bps=settings.PLATFORM_FEE_BPS,
        )
        Milestone.objects.bulk_create(
            Milestone(
                contract=contract,
                position=planned.position,
                title=planned.title,
                amount=planned.amount,
                due_date=planned.due_date,
            )
            for planned in proposal.milestones.order_by("position")
        )
        proposal.status = Proposal.Status.ACCEPTED
        proposal.save(update_fields=["status", "updated_at"])
        audit.record(
            actor, "contract.offered", contract, after=audit.snapshot(contract, audited.CONTRACT)
        )
        record_activity(contract, actor, "offer_sent", f"{actor.display_name} sent an offer.")
        notify(proposal.freelancer_id, "offer_sent", f"New offer: {job.title}", offer_url(contract))
        ensure_conversation(
            contract,
            "contract",
            [actor.pk, proposal.freelancer_id],
            f"Contract: {job.title}",
            url=workroom_url(contract),
        )
    return contract


def _lock_offer(actor: User, contract_id: int, role: str) -> tuple[Job, Contract]:
    """Lock job then contract; the actor must be the contract's ``role`` party."""
    job_id = (
        visible_contracts(actor).filter(pk=contract_id).values_list("job_id", flat=True).first()
    )
    if job_id is None:
        raise NotFoundError("No such contract.")
    job = Job.objects.select_for_update().get(pk=job_id)
    contract = Contract.objects.select_for_update().get(pk=contract_id)
    if getattr(contract, f"{role}_id") != actor.pk:
        raise NotAllowed(f"Only the {role} may do that.")
    if contract.status != Contract.Status.OFFERED:
        raise Conflict(
            f"The offer is no longer waiting for an answer ({contract.get_status_display()}).",
            code="offer_not_pending",
        )
    return job, contract


def accept_offer(*, actor: User, contract_id: int) -> Contract:
    """The freelancer accepts: the contract becomes active, the job awarded,
    and the job's other open proposals are declined."""
    require_verified(actor)
    with transaction.atomic():
        job, contract = _lock_offer(actor, contract_id, "freelancer")
        before = audit.snapshot(contract, audited.CONTRACT)
        contract.status = Contract.Status.ACTIVE
        contract.accepted_at = timezone.now()
        contract.save(update_fields=["status", "accepted_at"])
        job.status = Job.Status.AWARDED
        job.save(update_fields=["status", "updated_at"])
        others = list(
            Proposal.objects.select_for_update()
            .filter(job=job, status__in=OPEN_PROPOSAL_STATUSES)
            .exclude(pk=contract.proposal_id)
            .values_list("pk", "freelancer_id")
        )
        Proposal.objects.filter(pk__in=[pk for pk, _ in others]).update(
            status=Proposal.Status.DECLINED, updated_at=timezone.now()
        )
        record_activity(
            contract, actor, "offer_accepted", f"{actor.display_name} accepted the offer."
        )
        audit.record(
            actor,
            "contract.accepted",
            contract,
            before=before,
            after=audit.snapshot(contract, audited.CONTRACT),
        )
        url = workroom_url(contract)
        notify(contract.client_id, "offer_accepted", f"Offer accepted: {job.title}", url)
        for _, freelancer_id in others:
            notify(
                freelancer_id,
                "proposal_declined",
                f"The job “{job.title}” was awarded",
                reverse("dashboard"),
            )
    return contract


def decline_offer(*, actor: User, contract_id: int) -> Contract:
    """The freelancer declines: the proposal is declined and the job stays open."""
    with transaction.atomic():
        job, contract = _lock_offer(actor, contract_id, "freelancer")
        return _close_offer(actor, job, contract, Contract.Status.DECLINED, "declined")


def withdraw_offer(*, actor: User, contract_id: int) -> Contract:
    """The client takes an unanswered offer back; the job stays open for other proposals."""
    with transaction.atomic():
        job, contract = _lock_offer(actor, contract_id, "client")
        return _close_offer(actor, job, contract, Contract.Status.WITHDRAWN, "withdrew")


def _close_offer(actor: User, job: Job, contract: Contract, status: str, said: str) -> Contract:
    before = audit.snapshot(contract, audited.CONTRACT)
    contract.status = status
    contract.save(update_fields=["status"])
    action = "contract.declined" if status == Contract.Status.DECLINED else "contract.withdrawn"
    audit.record(
        actor, action, contract, before=before, after=audit.snapshot(contract, audited.CONTRACT)
    )
    # The proposal has had its answer either way; a new offer needs another proposal.
    Proposal.objects.filter(pk=contract.proposal_id).update(
        status=Proposal.Status.DECLINED, updated_at=timezone.now()
    )
    verb = "offer_declined" if status == Contract.Status.DECLINED else "offer_withdrawn"
    record_activity(contract, actor, verb, f"{actor.display_name} {said} the offer.")
    other = contract.client_id if actor.pk == contract.freelancer_id else contract.freelancer_id
    notify(
        other,
        verb,
        f"Offer {contract.get_status_display().lower()}: {job.title}",
        offer_url(contract),
    )
    return contract


def complete_contract_if_done(contract: Contract) -> bool:
    """Complete an active contract whose milestones are all final; True if it did.

    The hook escrow and disputes call after a milestone reaches a final state.
    """
    with transaction.atomic():
        locked = Contract.objects.select_for_update().get(pk=contract.pk)
        if locked.status != Contract.Status.ACTIVE:
            return False
        statuses = set(locked.milestones.values_list("status", flat=True))
        if not statuses or not statuses <= lifecycle.FINAL:
            return False
        before = audit.snapshot(locked, audited.CONTRACT)
        locked.status = Contract.Status.COMPLETED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at"])
        audit.record(
            None,
            "contract.completed",
            locked,
            before=before,
            after=audit.snapshot(locked, audited.CONTRACT),
        )
        record_activity(locked, None, "contract_completed", "The contract is complete.")
        # Imported here: profiles is another area's module and depends on nothing of ours.
        from marketplace.services.profiles import record_contract_completed

        record_contract_completed(locked)
        for user_id in (locked.client_id, locked.freelancer_id):
            notify(
                user_id,
                "contract_completed",
                f"Contract complete: {locked.title}",
                workroom_url(locked),
            )
    contract.status = locked.status
    contract.completed_at = locked.completed_at
    return True
