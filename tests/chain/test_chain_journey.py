"""The chain rail end to end, as issue 6 defines done: create the contract, fund it in
ETH and in an ERC-20, submit, approve, and the freelancer withdraws. Every step goes
through the API (which only hands out transactions), the parties' wallets (anvil's
unlocked accounts) and real chain sync; afterwards the chain and the ledger agree to the
wei, and the wallets received exactly what the ledger says left the system."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from escrow import ledger, selectors
from escrow.chain.sync import sync_chain
from escrow.models import ChainEscrow, LedgerAccount
from marketplace.models import Contract, Milestone, Submission
from tests.chain.agreement import assert_ledger_matches_chain
from tests.chain.conftest import ETH
from tests.chain.rail import ChainRail
from tests.chain.wallet_helpers import api_for, send_all

S = Milestone.Status
AVAILABLE = LedgerAccount.Kind.AVAILABLE


def _post(user: Any, path: str, data: dict[str, Any], fmt: str = "json") -> dict[str, Any]:
    response = api_for(user).post(path, data, format=fmt)
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    assert body["rail"] == "chain", body
    assert body["transactions"], body
    return body


def _wallet_balance(rail: ChainRail, address: str, token: str) -> int:
    if token == ETH:
        return int(rail.w3.eth.get_balance(address))  # type: ignore[arg-type]
    return int(rail.token.functions.balanceOf(address).call())


def _gas_paid(receipts: list[Any]) -> int:
    return sum(int(r["gasUsed"]) * int(r["effectiveGasPrice"]) for r in receipts)


def _available(user: Any, currency: str) -> int:
    return int(ledger.user_account(user, AVAILABLE, currency).balance)


def _journey(rail: ChainRail, currency: str, amounts: tuple[int, int], tmp_media: Any) -> None:
    contract: Contract = rail.contract(currency, amounts)
    first, second = contract.milestones.order_by("position")
    client, freelancer = rail.accounts.client, rail.accounts.freelancer
    token = ETH if currency == "eth" else rail.token.address
    if currency == "usdc":
        rail.mint(client, sum(amounts))

    # The client funds both milestones: createEscrow, (approve,) fund, fund.
    body = _post(
        contract.client,
        f"/api/v1/milestones/{first.pk}/fund/",
        {"chain_id": 31337, "from": client},
    )
    send_all(rail, body, client)
    body = _post(contract.client, f"/api/v1/milestones/{second.pk}/fund/", {})
    send_all(rail, body, client)
    report = sync_chain()
    assert report.failed == 0, report
    assert ChainEscrow.objects.get(contract=contract).status == ChainEscrow.Status.CREATED
    for milestone, amount in ((first, amounts[0]), (second, amounts[1])):
        milestone.refresh_from_db()
        assert milestone.status == S.FUNDED
        assert int(ledger.escrow_account(milestone).balance) == amount
    assert_ledger_matches_chain(rail)

    # The freelancer delivers a file; its manifest digest is anchored by `submit`.
    upload = SimpleUploadedFile("report.txt", b"the finished work\n")
    body = _post(
        contract.freelancer,
        f"/api/v1/milestones/{first.pk}/submit/",
        {"message": "Done, see the report.", "files": [upload]},
        fmt="multipart",
    )
    receipt = send_all(rail, body, freelancer)[-1]
    sync_chain()
    first.refresh_from_db()
    assert first.status == S.SUBMITTED
    submission = Submission.objects.get(milestone=first)
    assert submission.anchored_block == receipt["blockNumber"]
    assert submission.anchored_tx == receipt["transactionHash"].to_0x_hex()

    # The client approves the first milestone in full and the second one before submission.
    send_all(rail, _post(contract.client, f"/api/v1/milestones/{first.pk}/approve/", {}), client)
    send_all(rail, _post(contract.client, f"/api/v1/milestones/{second.pk}/approve/", {}), client)
    sync_chain()
    for milestone in (first, second):
        milestone.refresh_from_db()
        assert milestone.status == S.RELEASED
        assert int(ledger.escrow_account(milestone).balance) == 0
    gross = sum(amounts)
    fee = sum(a * contract.fee_bps // 10_000 for a in amounts)
    assert _available(contract.freelancer, currency) == gross - fee
    assert int(ledger.fee_account(currency).balance) == fee
    contract.refresh_from_db()
    assert contract.status == Contract.Status.COMPLETED
    assert_ledger_matches_chain(rail)

    # The freelancer withdraws: the wallet receives exactly what the ledger paid out.
    before = _wallet_balance(rail, freelancer, token)
    body = _post(contract.freelancer, "/api/v1/wallets/withdraw/", {"currency": currency})
    receipts = send_all(rail, body, freelancer)
    sync_chain()
    received = _wallet_balance(rail, freelancer, token) - before
    if token == ETH:
        received += _gas_paid(receipts)
    assert received == gross - fee
    assert _available(contract.freelancer, currency) == 0
    assert int(rail.escrow.functions.credits(token, freelancer).call()) == 0
    external = ledger.external_account("chain", currency)
    assert int(external.balance) == -(fee)  # only the treasury's fee is still inside
    assert_ledger_matches_chain(rail)
    assert not ledger.find_problems()

    # The freelancer's statement tells the story in words, newest first.
    lines = [(line.type, line.description) for line in selectors.transactions(contract.freelancer)]
    assert lines[0] == ("chain_withdrawal", f"Withdrawn on chain to {freelancer}")
    assert sorted(lines[1:]) == sorted(
        ("release", f"Release of “{m.title}” on chain") for m in (first, second)
    )


@pytest.mark.parametrize(
    ("currency", "amounts"),
    [
        # Odd wei amounts with every digit significant: nothing is rounded anywhere.
        ("eth", (1_234_567_890_123_456_789, 987_654_321_987_654_321)),
        ("usdc", (1_500_000_001, 2_499_999_999)),
    ],
)
def test_fund_submit_approve_withdraw_agrees_to_the_wei(
    chain_rail: ChainRail, tmp_media: Any, currency: str, amounts: tuple[int, int]
) -> None:
    _journey(chain_rail, currency, amounts, tmp_media)
