"""Dispute routes whose objects are private, for tests/test_cross_user_access.py.

Each maker builds a dispute on a contract ``owner`` is the client of and returns the
route's kwargs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.files.uploadedfile import SimpleUploadedFile

from disputes.models import Dispute
from disputes.services import add_evidence, open_dispute, propose_settlement
from marketplace.models import User
from tests.factories import fund_for_test, make_contract, make_job, make_proposal


def owned_dispute(owner: User) -> Dispute:
    contract = make_contract(make_proposal(make_job(owner)))
    milestone = fund_for_test(contract.milestones.order_by("position").first())  # type: ignore[arg-type]
    return open_dispute(
        actor=owner, milestone_id=milestone.pk, reason="quality", description="Not as agreed."
    )


def _dispute_pk(owner: User) -> dict[str, object]:
    return {"pk": owned_dispute(owner).pk}


def _evidence_file(owner: User) -> dict[str, object]:
    dispute = owned_dispute(owner)
    rows = add_evidence(
        actor=owner, dispute_id=dispute.pk, files=[SimpleUploadedFile("brief.txt", b"brief")]
    )
    return {"pk": dispute.pk, "evidence_id": rows[0].pk}


def _offer_pk(owner: User) -> dict[str, object]:
    dispute = owned_dispute(owner)
    offer = propose_settlement(actor=owner, dispute_id=dispute.pk, freelancer_share_bps=5_000)
    return {"pk": offer.pk}


DISPUTES_PRIVATE: dict[str, Callable[[User], dict[str, object]]] = {
    **dict.fromkeys(
        [
            "dispute-detail",
            "dispute-respond",
            "dispute-evidence",
            "dispute-offers",
            "dispute-escalate",
            "dispute-resolve",
            "dispute-confirm",
            "dispute-appeal",
            "dispute-withdraw",
            "dispute-assign",
        ],
        _dispute_pk,
    ),
    "dispute-evidence-file": _evidence_file,
    "dispute-offer-accept": _offer_pk,
}


# --- the parties' pages (disputes/urls.py) ---------------------------------------------------


def _case_milestone(owner: User) -> dict[str, object]:
    return {"pk": owned_dispute(owner).milestone_id}


def _case_offer(owner: User) -> dict[str, object]:
    dispute = owned_dispute(owner)
    offer = propose_settlement(actor=owner, dispute_id=dispute.pk, freelancer_share_bps=5_000)
    return {"pk": dispute.pk, "offer_id": offer.pk}


DISPUTES_PRIVATE.update(
    {
        **dict.fromkeys(
            [
                "dispute_detail",
                "dispute_respond",
                "dispute_add_evidence",
                "dispute_propose",
                "dispute_escalate",
                "dispute_withdraw",
                "dispute_appeal",
            ],
            _dispute_pk,
        ),
        "dispute_evidence_download": _evidence_file,
        "dispute_accept_offer": _case_offer,
        "milestone_dispute": _case_milestone,
    }
)
