"""The chain rail's wallet script in a real browser: the workroom's money panel sends
the transactions the server hands out through the page's EIP-1193 provider (backed by
anvil), shows the confirmations it waits for, and shows the new state once chain sync
has recorded it. Refusals (wrong chain, rejected signature) are said in words and
send nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from escrow.chain.sync import sync_chain
from escrow.models import ChainEscrow
from marketplace.models import Contract, Milestone
from tests.e2e.conftest import Wallet, as_worker
from tests.e2e.journey import Journey, screenshot_folder

REJECTED = {"code": 4001, "message": "User rejected the request."}
ETHER = 10**18


def fund_button(page: Page, milestone: Milestone, amount: str) -> Any:
    return page.get_by_role("button", name=f"Fund {amount} from your wallet for {milestone.title}")


def card(page: Page, milestone: Milestone) -> Any:
    return page.locator("section.money-milestone").filter(has_text=milestone.title)


def first_milestone(contract: Contract) -> Milestone:
    return contract.milestones.order_by("position").first()  # type: ignore[return-value]


def test_client_funds_a_milestone_and_watches_it_confirm_and_land(
    chain_rail: Any, settings: Any, open_workroom: Any
) -> None:
    settings.CHAIN_CONFIRMATIONS = 2
    contract = chain_rail.contract("eth")
    first = first_milestone(contract)
    wallet = Wallet(chain_rail, chain_rail.accounts.client)
    page = open_workroom(contract.client, contract, wallet)
    status = page.locator("[data-chain-status]")
    expect(card(page, first)).to_contain_text("Not funded yet.")
    expect(page.locator("[data-chain-panel]")).to_contain_text("2 confirmations")

    fund_button(page, first, "Ξ1.000000").click()

    # createEscrow, then fund: both mined (anvil mines each at once), no block on top.
    expect(status).to_have_text("Waiting for confirmations (0/2)…")
    assert wallet.sent == 2
    chain_rail.mine(1)
    expect(status).to_have_text("Waiting for confirmations (1/2)…")
    chain_rail.mine(1)
    expect(status).to_contain_text("Confirmed on chain (2/2).")
    # On chain, not yet in SmartPay: the reloaded panel says so and offers nothing.
    expect(card(page, first)).to_contain_text("On chain it is already funded")
    expect(status).to_contain_text("Waiting for SmartPay to record it…")
    expect(fund_button(page, first, "Ξ1.000000")).to_have_count(0)

    report = as_worker(sync_chain)  # as beat would
    assert report.applied == 2, report  # EscrowCreated and Funded

    expect(card(page, first)).to_contain_text(
        "Funded: Ξ1.000000 is held by the escrow contract while the freelancer works."
    )
    expect(card(page, first).locator(".status-badge")).to_have_text("Funded — money in escrow")
    expect(card(page, first)).not_to_contain_text("On chain it is already")
    expect(page.locator("[data-chain-status]")).to_contain_text(
        "Confirmed on chain (2/2). SmartPay has recorded it"
    )
    expect(page.locator("[data-chain-panel]")).to_contain_text(
        f"created in block {ChainEscrow.objects.get(contract=contract).created_block}"
    )
    first.refresh_from_db()
    assert first.status == Milestone.Status.FUNDED
    onchain = chain_rail.escrow.functions.heldAmount(
        int(ChainEscrow.objects.get(contract=contract).onchain_id)
    ).call()
    assert onchain == ETHER


def test_a_wallet_on_another_chain_that_will_not_switch_sends_nothing(
    chain_rail: Any, open_workroom: Any
) -> None:
    contract = chain_rail.contract("eth")
    first = first_milestone(contract)
    wallet = Wallet(
        chain_rail,
        chain_rail.accounts.client,
        chain_id=1,
        refuse={"wallet_switchEthereumChain": REJECTED},
    )
    block = chain_rail.w3.eth.block_number
    page = open_workroom(contract.client, contract, wallet)

    fund_button(page, first, "Ξ1.000000").click()

    expect(page.locator("[data-chain-status]")).to_have_text(
        "Your wallet stayed on chain 1. Switch it to chain 31337 to continue."
    )
    expect(fund_button(page, first, "Ξ1.000000")).to_be_enabled()
    assert wallet.sent == 0
    assert chain_rail.w3.eth.block_number == block
    assert not ChainEscrow.objects.filter(contract=contract).exists()  # server not asked


@pytest.mark.parametrize(
    ("sent_before", "words"),
    [
        (0, "You rejected the request in your wallet. Nothing was sent."),
        (1, "You rejected the request in your wallet. The 1 transaction before it went through."),
    ],
)
def test_a_rejected_signature_is_said_in_words(
    chain_rail: Any, open_workroom: Any, sent_before: int, words: str
) -> None:
    contract = chain_rail.contract("eth")
    first = first_milestone(contract)
    wallet = RejectingWallet(chain_rail, chain_rail.accounts.client, after=sent_before)
    block = chain_rail.w3.eth.block_number
    page = open_workroom(contract.client, contract, wallet)

    fund_button(page, first, "Ξ1.000000").click()

    expect(page.locator("[data-chain-status]")).to_have_text(words)
    expect(fund_button(page, first, "Ξ1.000000")).to_be_enabled()
    assert wallet.sent == sent_before
    assert chain_rail.w3.eth.block_number == block + sent_before
    first.refresh_from_db()
    assert first.status == Milestone.Status.DRAFT


class RejectingWallet(Wallet):
    """Signs the first ``after`` transactions, then the user rejects the next one."""

    def __init__(self, rail: Any, account: str, *, after: int) -> None:
        super().__init__(rail, account)
        self.after = after

    def __call__(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_sendTransaction" and self.sent >= self.after:
            return {"error": REJECTED}
        return super().__call__(method, params)


def test_fund_submit_and_approve_from_the_wallets_with_confirmations_shown(
    chain_rail: Any, settings: Any, open_workroom: Any, tmp_path: Path
) -> None:
    """The chain journey: the client funds, the freelancer submits (the digest anchored
    on chain), the client approves; each step waits for its confirmation in words and
    shows the state SmartPay recorded once chain sync (beat's job) has read it."""
    settings.CHAIN_CONFIRMATIONS = 1
    contract = chain_rail.contract("eth")
    first = first_milestone(contract)
    journey = Journey("chain", screenshot_folder(tmp_path))

    def act(user: Any, account: str, button: str, fill: dict[str, str] | None = None) -> Page:
        page = open_workroom(user, contract, Wallet(chain_rail, account))
        for label, text in (fill or {}).items():
            card(page, first).get_by_label(label).fill(text)
        card(page, first).get_by_role("button", name=button).click()
        status = page.locator("[data-chain-status]")
        expect(status).to_have_text("Waiting for confirmations (0/1)…")
        chain_rail.mine(1)
        expect(status).to_contain_text("Confirmed on chain (1/1).")
        expect(status).to_contain_text("Waiting for SmartPay to record it…")
        as_worker(sync_chain)
        expect(status).to_contain_text("SmartPay has recorded it")
        journey.look(page, f"{button} is recorded", show=card(page, first))
        return page

    page = act(contract.client, chain_rail.accounts.client, "Fund Ξ1.000000 from your wallet")
    expect(card(page, first).locator(".status-badge")).to_have_text("Funded — money in escrow")

    page = act(
        contract.freelancer,
        chain_rail.accounts.freelancer,
        "Submit work from your wallet",
        {"What you are delivering": "The audit report, signed."},
    )
    expect(card(page, first).locator(".status-badge")).to_have_text(
        "Work submitted — waiting for review"
    )
    expect(card(page, first)).to_contain_text("Submission 1: digest")
    expect(card(page, first)).to_contain_text("anchored in block")

    page = act(contract.client, chain_rail.accounts.client, "Approve and release from your wallet")
    expect(card(page, first).locator(".status-badge")).to_have_text("Released to the freelancer")
    expect(card(page, first)).to_contain_text("Released: the freelancer's share was credited")
    first.refresh_from_db()
    assert first.status == Milestone.Status.RELEASED
