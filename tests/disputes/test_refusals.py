"""Bad input and the wrong people: a clear domain error, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from disputes.errors import (
    DisputeClosed,
    DisputeOpen,
    InvalidShare,
    NotArbiter,
    PartyCannotResolve,
    RationaleRequired,
)
from disputes.models import Dispute, DisputeEvent, Evidence, SettlementOffer
from disputes.services import (
    accept_settlement,
    add_evidence,
    escalate_dispute,
    open_dispute,
    propose_settlement,
    resolve_dispute,
    respond_to_dispute,
)
from escrow.models import Transfer
from escrow.services.release import approve_milestone
from marketplace.models import Contract, Milestone
from smartpay.errors import DomainError, InvalidTransition, NotAllowed, NotFoundError
from tests.disputes.helpers import funded_milestone, make_arbiter
from tests.escrow.money import card_contract, first_milestone, submit
from tests.factories import verified_user

pytestmark = pytest.mark.django_db


def snapshot() -> tuple[object, ...]:
    return (
        Dispute.objects.count(),
        DisputeEvent.objects.count(),
        Evidence.objects.count(),
        SettlementOffer.objects.count(),
        Transfer.objects.count(),
        *Milestone.objects.order_by("pk").values_list("status", flat=True),
        *Dispute.objects.order_by("pk").values_list("status", flat=True),
        *SettlementOffer.objects.order_by("pk").values_list("status", flat=True),
    )


@pytest.fixture
def unchanged() -> Callable[[type[DomainError], Callable[[], object]], DomainError]:
    """Call a service, expect ``error``, and prove nothing was written."""

    def check(error: type[DomainError], call: Callable[[], object]) -> DomainError:
        before = snapshot()
        with pytest.raises(error) as raised:
            call()
        assert snapshot() == before
        return raised.value

    return check


def opened(contract: Contract, milestone: Milestone) -> Dispute:
    return open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )


def test_a_draft_milestone_cannot_be_disputed(unchanged: Any) -> None:
    contract = card_contract((100_000,))
    draft = first_milestone(contract)
    error = unchanged(InvalidTransition, lambda: opened(contract, draft))
    assert error.code == "invalid_transition"


def test_a_released_milestone_cannot_be_disputed(unchanged: Any) -> None:
    contract, milestone = funded_milestone((100_000, 20_000))
    submit(milestone)
    approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    unchanged(InvalidTransition, lambda: opened(contract, milestone))


def test_a_second_open_dispute_is_refused(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    opened(contract, milestone)
    error = unchanged(
        DisputeOpen,
        lambda: open_dispute(
            actor=contract.freelancer, milestone_id=milestone.pk, reason="other", description="x"
        ),
    )
    assert (error.code, error.status_code) == ("dispute_open", 409)


@pytest.mark.parametrize("amount", [0, -1, 100_001, True])
def test_an_amount_outside_the_milestone_is_refused(unchanged: Any, amount: int) -> None:
    contract, milestone = funded_milestone()
    unchanged(
        DomainError,
        lambda: open_dispute(
            actor=contract.client,
            milestone_id=milestone.pk,
            reason="quality",
            description="Bad.",
            amount=amount,
        ),
    )


def test_an_unknown_reason_or_empty_description_is_refused(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    for reason, description in (("nope", "Bad."), ("quality", "   ")):
        unchanged(
            DomainError,
            lambda r=reason, d=description: open_dispute(
                actor=contract.client, milestone_id=milestone.pk, reason=r, description=d
            ),
        )


def test_evidence_and_offers_after_the_case_closed_are_refused(
    unchanged: Any, tmp_media: Any
) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    offer = propose_settlement(actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=0)
    accept_settlement(actor=contract.freelancer, offer_id=offer.pk)
    upload = SimpleUploadedFile("late.txt", b"too late")
    error = unchanged(
        DisputeClosed,
        lambda: add_evidence(
            actor=contract.client, dispute_id=dispute.pk, text="Late.", files=[upload]
        ),
    )
    assert error.status_code == 409
    assert not list(tmp_media.rglob("late*"))  # no bytes stored either
    unchanged(
        DisputeClosed,
        lambda: propose_settlement(
            actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=1
        ),
    )
    unchanged(
        DisputeClosed,
        lambda: resolve_dispute(
            actor=make_arbiter(), dispute_id=dispute.pk, freelancer_share_bps=1, rationale="x"
        ),
    )
    unchanged(DisputeClosed, lambda: escalate_dispute(actor=contract.client, dispute_id=dispute.pk))


@pytest.mark.parametrize("bps", [-1, 10_001, 50.5, True, "5000", None])
def test_a_share_outside_0_to_10000_is_refused(unchanged: Any, bps: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    arbiter = make_arbiter()
    unchanged(
        InvalidShare,
        lambda: propose_settlement(
            actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=bps
        ),
    )
    unchanged(
        InvalidShare,
        lambda: resolve_dispute(
            actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=bps, rationale="Because."
        ),
    )


def test_a_party_may_not_resolve_even_as_an_arbiter(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    for party in (contract.client, contract.freelancer):
        unchanged(
            PartyCannotResolve,
            lambda p=party: resolve_dispute(
                actor=p, dispute_id=dispute.pk, freelancer_share_bps=10_000, rationale="Mine."
            ),
        )
    # An arbiter who is the freelancer on this contract.
    own_contract, own = funded_milestone()
    freelancer = own_contract.freelancer
    freelancer.is_staff = True
    freelancer.save(update_fields=["is_staff"])
    freelancer.groups.add(make_arbiter().groups.get())
    arbiter_party = type(freelancer).objects.get(pk=freelancer.pk)
    assert arbiter_party.is_arbiter
    own_dispute = opened(own_contract, own)
    unchanged(
        PartyCannotResolve,
        lambda: resolve_dispute(
            actor=arbiter_party, dispute_id=own_dispute.pk, freelancer_share_bps=1, rationale="x"
        ),
    )


def test_staff_who_are_not_arbiters_may_not_resolve(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    staff = verified_user(is_staff=True, is_client=False)
    unchanged(
        NotArbiter,
        lambda: resolve_dispute(
            actor=staff, dispute_id=dispute.pk, freelancer_share_bps=1, rationale="x"
        ),
    )


def test_a_decision_needs_a_rationale(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    unchanged(
        RationaleRequired,
        lambda: resolve_dispute(
            actor=make_arbiter(), dispute_id=dispute.pk, freelancer_share_bps=1, rationale="  "
        ),
    )


def test_a_stranger_finds_nothing(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    offer = propose_settlement(actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=1)
    stranger = verified_user()
    calls: list[Callable[[], object]] = [
        lambda: open_dispute(
            actor=stranger, milestone_id=milestone.pk, reason="other", description="x"
        ),
        lambda: respond_to_dispute(actor=stranger, dispute_id=dispute.pk, text="x"),
        lambda: add_evidence(actor=stranger, dispute_id=dispute.pk, text="x"),
        lambda: propose_settlement(actor=stranger, dispute_id=dispute.pk, freelancer_share_bps=1),
        lambda: accept_settlement(actor=stranger, offer_id=offer.pk),
        lambda: escalate_dispute(actor=stranger, dispute_id=dispute.pk),
        lambda: resolve_dispute(
            actor=stranger, dispute_id=dispute.pk, freelancer_share_bps=1, rationale="x"
        ),
        lambda: resolve_dispute(
            actor=stranger, dispute_id=dispute.pk + 999, freelancer_share_bps=1, rationale="x"
        ),
    ]
    for call in calls:
        assert unchanged(NotFoundError, call).status_code == 404


def test_only_the_other_party_responds_or_accepts(unchanged: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    unchanged(
        NotAllowed,
        lambda: respond_to_dispute(actor=contract.client, dispute_id=dispute.pk, text="x"),
    )
    offer = propose_settlement(actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=1)
    unchanged(NotAllowed, lambda: accept_settlement(actor=contract.client, offer_id=offer.pk))
    counter = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=9_000
    )
    assert counter.status == SettlementOffer.Status.OPEN
    # The countered offer can no longer be accepted.
    unchanged(
        InvalidTransition, lambda: accept_settlement(actor=contract.freelancer, offer_id=offer.pk)
    )


def test_a_bad_evidence_file_writes_nothing(unchanged: Any, tmp_media: Any) -> None:
    contract, milestone = funded_milestone()
    dispute = opened(contract, milestone)
    fake_pdf = SimpleUploadedFile("contract.pdf", b"not a pdf")
    error = unchanged(
        DomainError,
        lambda: add_evidence(actor=contract.client, dispute_id=dispute.pk, files=[fake_pdf]),
    )
    assert error.code == "file_type_not_allowed"
    unchanged(DomainError, lambda: add_evidence(actor=contract.client, dispute_id=dispute.pk))
