"""The chain escrow admin's repair form leaves milestones with a dispute case to the case page."""

from disputes.models import Dispute
from escrow.admin_chain import CASE_UNFINISHED


def test_the_chain_admin_knows_every_unfinished_case_status() -> None:
    assert set(CASE_UNFINISHED) == {str(status) for status in Dispute.UNFINISHED}
