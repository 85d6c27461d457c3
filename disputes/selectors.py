"""Read-side queries for disputes: who may see which case."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from disputes.models import Dispute, Evidence
from marketplace.models import User


def disputes_for(user: User) -> QuerySet[Dispute]:
    """The parties of the milestone's contract see its disputes; arbiters and staff see all."""
    scope = Dispute.objects.select_related("milestone__contract")
    if user.is_arbiter or user.is_staff:
        return scope
    return scope.filter(
        Q(milestone__contract__client=user) | Q(milestone__contract__freelancer=user)
    )


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
