"""Read-side queries for disputes: who may see which case, arbiters' conflicts, queues."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone

from disputes.models import Dispute, DisputeEvent, Evidence
from marketplace.models import Contract, User
from marketplace.models.users import holds_resolve_permission

MANAGE_PERMISSION = "disputes.change_dispute"


def manages_disputes(user: User) -> bool:
    """Ops staff who may assign arbiters: superusers, or staff with the change permission."""
    return bool(
        user.is_active
        and (user.is_superuser or (user.is_staff and user.has_perm(MANAGE_PERMISSION)))
    )


def disputes_for(user: User) -> QuerySet[Dispute]:
    """The parties of the milestone's contract see its disputes; an arbiter sees their
    ``arbiter_queue`` (besides cases they are a party to); other staff see all."""
    scope = Dispute.objects.select_related(
        "milestone__contract", "arbiter", "decided_by", "second_arbiter"
    )
    if manages_disputes(user) or (user.is_staff and not user.is_arbiter):
        return scope
    party = Q(milestone__contract__client=user) | Q(milestone__contract__freelancer=user)
    if user.is_arbiter:
        return scope.filter(party | Q(pk__in=arbiter_queue(user).values("pk")))
    return scope.filter(party)


def party_disputes(user: User) -> QuerySet[Dispute]:
    """Cases on contracts ``user`` is a party to: the parties' pages (arbiters and
    staff work in the admin)."""
    return Dispute.objects.filter(
        Q(milestone__contract__client=user) | Q(milestone__contract__freelancer=user)
    ).select_related("milestone__contract__client", "milestone__contract__freelancer", "arbiter")


def dispute_detail_for(user: User) -> QuerySet[Dispute]:
    """``disputes_for`` with the timeline, evidence and offers prefetched."""
    return disputes_for(user).prefetch_related("events", "evidence", "offers")


def evidence_file_for(user: User, dispute_id: int, evidence_id: int) -> Evidence | None:
    """A stored evidence file of a case ``user`` may see, else None."""
    return (
        Evidence.objects.filter(dispute__in=disputes_for(user), dispute_id=dispute_id)
        .exclude(file="")
        .filter(pk=evidence_id)
        .first()
    )


# --- conflicts ------------------------------------------------------------------------------------


def _partners(user_ids: Iterable[int]) -> set[int]:
    """``user_ids`` and everyone who shares a contract (either side) with one of them."""
    ids = set(user_ids)
    rows = Contract.objects.filter(Q(client_id__in=ids) | Q(freelancer_id__in=ids)).values_list(
        "client_id", "freelancer_id"
    )
    for client_id, freelancer_id in rows:
        ids.update((client_id, freelancer_id))
    return ids


def conflicted_user_ids(contract: Contract) -> set[int]:
    """Who may not arbitrate a dispute on ``contract``: its parties, and everyone who
    was client or freelancer on any contract with either of them."""
    return _partners((contract.client_id, contract.freelancer_id))


def conflict_reason(user: User, contract: Contract) -> str | None:
    """Why ``user`` may not arbitrate a dispute on ``contract``, or None."""
    if contract.is_party(user):
        return f"{user.display_name} is a party to this contract."
    parties = (contract.client_id, contract.freelancer_id)
    shared = (
        Contract.objects.exclude(pk=contract.pk)
        .filter(Q(client=user) | Q(freelancer=user))
        .filter(Q(client_id__in=parties) | Q(freelancer_id__in=parties))
        .select_related("client", "freelancer")
        .order_by("pk")
        .first()
    )
    if shared is None:
        return None
    partner = shared.freelancer if shared.client_id == user.pk else shared.client
    return (
        f"{user.display_name} has worked with {partner.display_name} on another contract "
        f"(“{shared.title}”)."
    )


def prior_deciders(dispute: Dispute) -> set[int]:
    """Arbiters who decided, confirmed or refused to confirm the first round of this
    case (before its appeal, if any): the appeal goes to someone else."""
    kinds = (
        DisputeEvent.Kind.DECIDED,
        DisputeEvent.Kind.CONFIRMED,
        DisputeEvent.Kind.CONFIRMATION_REFUSED,
    )
    events = DisputeEvent.objects.filter(dispute=dispute, kind__in=kinds, actor__isnull=False)
    appealed = (
        DisputeEvent.objects.filter(dispute=dispute, kind=DisputeEvent.Kind.APPEALED)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if appealed is not None:
        events = events.filter(pk__lt=appealed)
    ids = {actor_id for actor_id in events.values_list("actor_id", flat=True) if actor_id}
    if appealed is None:  # the decision under appeal, if one is pending now
        ids.update(filter(None, (dispute.decided_by_id, dispute.second_arbiter_id)))
    return ids


# --- arbiters -------------------------------------------------------------------------------------


def arbiters() -> QuerySet[User]:
    """Active staff who hold the arbiter permission through a group or directly."""
    ids = (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(holds_resolve_permission())
        .values("pk")
    )
    return User.objects.filter(pk__in=ids)


def arbiters_by_load() -> QuerySet[User]:
    """Arbiters with their ``load`` (cases with an arbiter or a second arbiter to act on)
    and ``last_assigned_at``, least loaded first, then longest since their last case."""
    return (
        arbiters()
        .annotate(
            load=Count(
                "disputes_assigned",
                filter=Q(disputes_assigned__status__in=Dispute.ARBITRATING),
                distinct=True,
            ),
            last_assigned_at=Max("disputes_assigned__assigned_at"),
        )
        .order_by("load", F("last_assigned_at").asc(nulls_first=True), "pk")
    )


def next_arbiter(contract: Contract, *, exclude: Iterable[int] = ()) -> User | None:
    """Round-robin by load: the least loaded arbiter without a conflict on ``contract``
    (nor in ``exclude``), or None."""
    barred = conflicted_user_ids(contract) | set(exclude)
    return arbiters_by_load().exclude(pk__in=barred).first()


def arbiter_queue(user: User) -> QuerySet[Dispute]:
    """The cases an arbiter may see: assigned to them, decided, confirmed or refused by
    them, or (without a conflict) waiting for an arbiter or a second arbiter. Dispute managers
    see all; anyone else nothing."""
    scope = Dispute.objects.select_related(
        "milestone__contract", "arbiter", "decided_by", "second_arbiter"
    )
    if manages_disputes(user):
        return scope
    if not user.is_arbiter:
        return scope.none()
    partners = _partners([user.pk])
    unconflicted = ~Q(milestone__contract__client_id__in=partners) & ~Q(
        milestone__contract__freelancer_id__in=partners
    )
    waiting = Q(arbiter__isnull=True, status__in=Dispute.ACTIVE) | Q(
        status=Dispute.Status.CONFIRMING
    )
    took_part = DisputeEvent.objects.filter(
        actor=user,
        kind__in=(
            DisputeEvent.Kind.DECIDED,
            DisputeEvent.Kind.CONFIRMED,
            DisputeEvent.Kind.CONFIRMATION_REFUSED,
        ),
    ).values("dispute_id")
    mine = Q(arbiter=user) | Q(decided_by=user) | Q(second_arbiter=user) | Q(pk__in=took_part)
    return scope.filter(mine | (unconflicted & waiting))


def overdue(queryset: QuerySet[Dispute], *, now: datetime | None = None) -> QuerySet[Dispute]:
    """Cases past a deadline: with an arbiter (or a second arbiter) past
    ``decision_due_at``, or open past ``response_due_at``."""
    now = now or timezone.now()
    return queryset.filter(
        Q(status__in=Dispute.ARBITRATING, decision_due_at__lt=now)
        | Q(status=Dispute.Status.OPEN, response_due_at__lt=now)
    )
