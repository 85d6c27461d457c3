"""The happy paths of MilestoneEscrow, in ETH and in an ERC-20, with their events."""

from __future__ import annotations

import pytest

from tests.chain.conftest import DAY, DIGEST, ETH, FEE_BPS, REVIEW_PERIOD, Chain

ETHER = 10**18


@pytest.fixture(params=["eth", "erc20"])
def token(request: pytest.FixtureRequest, chain: Chain) -> str:
    return ETH if request.param == "eth" else str(chain.token.address)


def test_create_escrow_records_terms_and_emits_event(chain: Chain) -> None:
    a = chain.accounts
    receipt = chain.send(
        chain.escrow.functions.createEscrow(
            42, a.freelancer, a.arbiter, ETH, a.treasury, [ETHER, 3], REVIEW_PERIOD, FEE_BPS
        ),
        a.client,
    )
    (event,) = chain.events(receipt, "EscrowCreated")
    assert event["contractId"] == 42
    assert (event["client"], event["freelancer"], event["arbiter"]) == (
        a.client,
        a.freelancer,
        a.arbiter,
    )
    assert (event["token"], event["treasury"]) == (ETH, a.treasury)
    assert event["amounts"] == [ETHER, 3]
    assert (event["reviewPeriod"], event["feeBps"]) == (REVIEW_PERIOD, FEE_BPS)
    terms = list(chain.escrow.functions.getEscrow(42).call())
    assert terms == [a.client, REVIEW_PERIOD, a.freelancer, FEE_BPS, a.arbiter, ETH, a.treasury]
    assert [chain.status(42, i) for i in (0, 1)] == ["Unfunded", "Unfunded"]
    assert chain.escrow.functions.heldAmount(42).call() == 0


def test_fund_holds_the_exact_amount_and_emits_funded(chain: Chain, token: str) -> None:
    cid = chain.create([5 * ETHER, 7], token=token)
    before = chain.held(token)
    receipt = chain.fund(cid, 1)
    (event,) = chain.events(receipt, "Funded")
    assert (event["contractId"], event["milestone"], event["from"], event["amount"]) == (
        cid,
        1,
        chain.accounts.client,
        7,
    )
    assert chain.held(token) - before == 7
    assert chain.status(cid, 1) == "Funded"
    assert chain.status(cid, 0) == "Unfunded"
    assert chain.escrow.functions.heldAmount(cid).call() == 7


def test_submit_anchors_the_digest_and_starts_the_review_clock(chain: Chain) -> None:
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    receipt = chain.submit(cid, 0)
    (event,) = chain.events(receipt, "Submitted")
    milestone = chain.milestone(cid, 0)
    assert event["deliverable"] == DIGEST == milestone["deliverable"]
    assert milestone["status"] == "Submitted"
    assert (
        event["reviewDeadline"]
        == milestone["submitted_at"] + REVIEW_PERIOD
        == (chain.now() + REVIEW_PERIOD)
    )


def test_client_release_pays_freelancer_minus_fee(chain: Chain, token: str) -> None:
    a = chain.accounts
    cid = chain.create([1_000_000], token=token)
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    receipt = chain.send(chain.escrow.functions.release(cid, 0, 1_000_000), a.client)
    (event,) = chain.events(receipt, "Released")
    assert (event["by"], event["freelancerAmount"], event["fee"], event["clientRefund"]) == (
        a.client,
        900_000,
        100_000,
        0,
    )
    assert chain.status(cid, 0) == "Released"
    assert chain.credit(a.freelancer, token) == 900_000
    assert chain.credit(a.treasury, token) == 100_000
    assert chain.credit(a.client, token) == 0
    assert chain.escrow.functions.heldAmount(cid).call() == 0


def test_client_may_release_a_funded_milestone_before_submission(chain: Chain) -> None:
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    chain.send(chain.escrow.functions.release(cid, 0, ETHER), chain.accounts.client)
    assert chain.status(cid, 0) == "Released"


def test_partial_release_returns_the_rest_to_the_client(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([1_000])
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    receipt = chain.send(chain.escrow.functions.release(cid, 0, 601), a.client)
    (event,) = chain.events(receipt, "Released")
    # fee = floor(601 * 10 %) = 60; the freelancer keeps 541; 399 goes back.
    assert (event["freelancerAmount"], event["fee"], event["clientRefund"]) == (541, 60, 399)
    assert (chain.credit(a.freelancer), chain.credit(a.treasury), chain.credit(a.client)) == (
        541,
        60,
        399,
    )


def test_revision_returns_milestone_to_funded_and_resubmission_restarts_clock(
    chain: Chain,
) -> None:
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    chain.time_travel(10 * DAY)
    receipt = chain.send(chain.escrow.functions.requestRevision(cid, 0), chain.accounts.client)
    (event,) = chain.events(receipt, "RevisionRequested")
    assert (event["contractId"], event["milestone"]) == (cid, 0)
    assert chain.milestone(cid, 0)["status"] == "Funded"
    assert chain.milestone(cid, 0)["submitted_at"] == 0
    chain.submit(cid, 0, b"\x02" * 32)
    chain.time_travel(10 * DAY)
    name, _ = chain.revert(chain.escrow.functions.autoRelease(cid, 0), chain.accounts.stranger)
    assert name == "ReviewPeriodActive"
    assert chain.milestone(cid, 0)["deliverable"] == b"\x02" * 32


def test_anyone_may_auto_release_after_the_review_period(chain: Chain, token: str) -> None:
    a = chain.accounts
    cid = chain.create([10_000], token=token)
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    submitted_at = chain.milestone(cid, 0)["submitted_at"]
    chain.time_travel(REVIEW_PERIOD - 10)
    name, (releasable_at,) = chain.revert(chain.escrow.functions.autoRelease(cid, 0), a.stranger)
    assert name == "ReviewPeriodActive"
    assert releasable_at == submitted_at + REVIEW_PERIOD
    chain.time_travel(10)
    receipt = chain.send(chain.escrow.functions.autoRelease(cid, 0), a.stranger)
    (event,) = chain.events(receipt, "Released")
    assert (event["by"], event["freelancerAmount"], event["fee"], event["clientRefund"]) == (
        a.stranger,
        9_000,
        1_000,
        0,
    )
    assert chain.status(cid, 0) == "Released"


def test_client_request_then_freelancer_consent_refunds_in_full(chain: Chain, token: str) -> None:
    a = chain.accounts
    cid = chain.create([777], token=token)
    chain.fund(cid, 0)
    receipt = chain.send(chain.escrow.functions.requestRefund(cid, 0), a.client)
    assert chain.events(receipt, "RefundRequested")[0]["milestone"] == 0
    assert chain.milestone(cid, 0)["refund_requested"] is True
    assert chain.status(cid, 0) == "Funded"  # a request alone moves no money
    receipt = chain.send(chain.escrow.functions.refund(cid, 0), a.freelancer)
    (event,) = chain.events(receipt, "Refunded")
    assert (event["contractId"], event["milestone"], event["amount"]) == (cid, 0, 777)
    assert chain.status(cid, 0) == "Refunded"
    assert chain.credit(a.client, token) == 777
    assert chain.credit(a.treasury, token) == 0


def test_submitting_declines_a_pending_refund_request(chain: Chain) -> None:
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    chain.send(chain.escrow.functions.requestRefund(cid, 0), chain.accounts.client)
    chain.submit(cid, 0)
    assert chain.milestone(cid, 0)["refund_requested"] is False
    assert chain.status(cid, 0) == "Submitted"


def test_freelancer_may_refund_a_submitted_milestone_on_its_own(chain: Chain) -> None:
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    chain.send(chain.escrow.functions.refund(cid, 0), chain.accounts.freelancer)
    assert chain.status(cid, 0) == "Refunded"
    assert chain.credit(chain.accounts.client) == ETHER


@pytest.mark.parametrize("party", ["client", "freelancer"])
@pytest.mark.parametrize("submitted", [False, True])
def test_either_party_may_dispute_funded_or_submitted(
    chain: Chain, party: str, submitted: bool
) -> None:
    by = getattr(chain.accounts, party)
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    if submitted:
        chain.submit(cid, 0)
    receipt = chain.dispute(cid, 0, by=by)
    (event,) = chain.events(receipt, "Disputed")
    assert (event["contractId"], event["milestone"], event["by"]) == (cid, 0, by)
    assert chain.status(cid, 0) == "Disputed"
    assert chain.escrow.functions.heldAmount(cid).call() == ETHER


def test_dispute_locks_the_milestone(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([ETHER])
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    chain.dispute(cid, 0)
    chain.time_travel(REVIEW_PERIOD + 1)
    fns = chain.escrow.functions
    for call, sender in [
        (fns.autoRelease(cid, 0), a.stranger),
        (fns.release(cid, 0, ETHER), a.client),
        (fns.refund(cid, 0), a.freelancer),
        (fns.submit(cid, 0, DIGEST), a.freelancer),
        (fns.requestRevision(cid, 0), a.client),
        (fns.dispute(cid, 0), a.freelancer),
    ]:
        assert chain.revert(call, sender) == ("InvalidStatus", (5,))  # Disputed
    assert chain.held() == ETHER


def test_arbiter_resolves_with_a_split(chain: Chain, token: str) -> None:
    a = chain.accounts
    cid = chain.create([1_000_001], token=token)
    chain.fund(cid, 0)
    chain.dispute(cid, 0, by=a.freelancer)
    receipt = chain.send(chain.escrow.functions.resolve(cid, 0, 6_000), a.arbiter)
    (event,) = chain.events(receipt, "Resolved")
    # gross = floor(1_000_001 * 60 %) = 600_000; fee = 60_000; client gets 400_001.
    assert (event["freelancerBps"], event["freelancerAmount"], event["fee"]) == (
        6_000,
        540_000,
        60_000,
    )
    assert event["clientRefund"] == 400_001
    assert chain.status(cid, 0) == "Resolved"
    assert chain.credit(a.freelancer, token) == 540_000
    assert chain.credit(a.treasury, token) == 60_000
    assert chain.credit(a.client, token) == 400_001


@pytest.mark.parametrize(
    ("bps", "freelancer", "fee", "client"), [(0, 0, 0, 999), (10_000, 900, 99, 0)]
)
def test_resolve_extremes(chain: Chain, bps: int, freelancer: int, fee: int, client: int) -> None:
    a = chain.accounts
    cid = chain.create([999])
    chain.fund(cid, 0)
    chain.dispute(cid, 0)
    chain.send(chain.escrow.functions.resolve(cid, 0, bps), a.arbiter)
    assert (chain.credit(a.freelancer), chain.credit(a.treasury), chain.credit(a.client)) == (
        freelancer,
        fee,
        client,
    )


def test_withdraw_pays_credit_to_a_chosen_address(chain: Chain, token: str) -> None:
    a = chain.accounts
    cid = chain.create([2_000], token=token)
    chain.fund(cid, 0)
    chain.send(chain.escrow.functions.release(cid, 0, 2_000), a.client)
    payee = chain.fresh_address()
    receipt = chain.send(chain.escrow.functions.withdraw(token, payee), a.freelancer)
    (event,) = chain.events(receipt, "Withdrawn")
    assert (event["account"], event["token"], event["to"], event["amount"]) == (
        a.freelancer,
        token,
        payee,
        1_800,
    )
    assert chain.balance(payee, token) == 1_800
    assert chain.credit(a.freelancer, token) == 0
    assert chain.held(token) == 200  # the treasury's fee is still owed
    chain.send(chain.escrow.functions.withdraw(token, a.treasury), a.treasury)
    assert chain.held(token) == 0


def test_credits_are_kept_per_token(chain: Chain) -> None:
    a = chain.accounts
    eth_id = chain.create([100])
    token_id = chain.create([300], token=chain.token.address)
    for cid in (eth_id, token_id):
        chain.fund(cid, 0)
        chain.send(chain.escrow.functions.refund(cid, 0), a.freelancer)
    assert chain.credit(a.client) == 100
    assert chain.credit(a.client, chain.token.address) == 300
    payee = chain.fresh_address()
    chain.send(chain.escrow.functions.withdraw(ETH, payee), a.client)
    assert chain.balance(payee) == 100
    assert chain.balance(payee, chain.token.address) == 0
    assert chain.credit(a.client, chain.token.address) == 300


def test_pause_stops_new_money_but_not_exits(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    cid = chain.create([ETHER, ETHER, ETHER])
    chain.fund(cid, 0)
    chain.fund(cid, 1)
    chain.submit(cid, 1)
    receipt = chain.send(fns.pause(), a.owner)
    assert chain.events(receipt, "Paused")[0]["account"] == a.owner
    assert fns.paused().call() is True
    assert chain.revert(fns.fund(cid, 2), a.client, value=ETHER) == ("EnforcedPause", ())
    assert chain.revert(fns.submit(cid, 0, DIGEST), a.freelancer) == ("EnforcedPause", ())
    create = fns.createEscrow(99, a.freelancer, a.arbiter, ETH, a.treasury, [1], DAY, FEE_BPS)
    assert chain.revert(create, a.client) == ("EnforcedPause", ())
    # Exits stay open while paused.
    chain.send(fns.release(cid, 1, ETHER), a.client)
    chain.send(fns.refund(cid, 0), a.freelancer)
    chain.send(fns.withdraw(ETH, a.client), a.client)
    chain.send(fns.unpause(), a.owner)
    chain.fund(cid, 2)
    assert chain.status(cid, 2) == "Funded"


def test_milestones_of_one_escrow_are_independent(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([100, 200, 300, 400])
    for index in range(4):
        chain.fund(cid, index)
    chain.send(chain.escrow.functions.release(cid, 0, 100), a.client)
    chain.send(chain.escrow.functions.refund(cid, 1), a.freelancer)
    chain.dispute(cid, 2)
    statuses = [chain.status(cid, i) for i in range(4)]
    assert statuses == ["Released", "Refunded", "Disputed", "Funded"]
    assert chain.escrow.functions.heldAmount(cid).call() == 700
