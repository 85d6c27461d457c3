"""The card journey, in Chromium, against the live stack (server + worker): a client and a
freelancer sign up, agree a contract, and the money goes from the client's card through
escrow to the freelancer's payout. Each step asserts on what the person sees; every page
is checked by axe-core and photographed. The other party watches chat messages and the
notification count arrive without reloading.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.journey import Journey, Person, screenshot_folder, text_file
from tests.e2e.live_stack import LiveStack

JOB = "Rebuild our booking widget"


@pytest.fixture
def people(chromium: Browser, live_stack: LiveStack) -> Iterator[dict[str, Person]]:
    tag = secrets.token_hex(3)
    opened = {
        name: Person.open(chromium, live_stack, f"{name}-{tag}@journey.test")
        for name in ("client", "freelancer")
    }
    yield opened
    for person in opened.values():
        person.close()


def badge(page: Page, title: str) -> Any:
    """The status badge of the milestone card titled ``title`` in the workroom."""
    return page.locator("section.milestone-card").filter(has_text=title).locator(".status-badge")


def unread_count(bell: Any) -> int:
    """The count the notification bell shows, once its live connection has said it."""
    expect(bell).to_have_attribute("data-unread", re.compile(r"^\d+$"))
    return int(bell.get_attribute("data-unread"))


def reload_until(page: Page, locator: Any, text: str, seconds: float = 45) -> None:
    """Reload ``page`` until ``locator`` says ``text``: for news from the worker, which
    the embedded default's in-memory channel layer cannot push to the server."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            expect(locator).to_have_text(text, timeout=1_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        page.reload()


def test_card_journey_from_sign_up_to_payout(
    live_stack: LiveStack, people: dict[str, Person]
) -> None:
    journey = Journey("card", screenshot_folder(live_stack.data_dir))
    client, freelancer = people["client"], people["freelancer"]

    # The client signs up, confirms the e-mail address, and posts a job.
    client.sign_up(live_stack, journey, role="Client — I want to hire", first="Carla")
    page = client.page
    page.goto("/jobs/new/")
    journey.look(page, "client posts a job")
    page.get_by_label("Title").fill(JOB)
    page.get_by_label("Description").fill("Our booking widget needs a rewrite in plain HTML.")
    page.get_by_label("Category").select_option(label="Web Development")
    page.get_by_label("Fixed budget").fill("1500")
    page.get_by_role("button", name="Publish job").click()
    expect(page.locator("main")).to_contain_text(f"“{JOB}” is published.")
    job_url = page.url
    journey.look(page, "the job is published")

    # The freelancer signs up, completes a profile, and proposes a two-milestone plan.
    freelancer.sign_up(live_stack, journey, role="Freelancer — I want to work", first="Femi")
    page = freelancer.page
    page.goto("/profile/edit/")
    journey.look(page, "freelancer edits the profile")
    page.get_by_label("Headline").fill("Front-end developer, accessible widgets")
    page.get_by_label("About you").fill("Ten years of forms that work with a keyboard.")
    page.get_by_label("Hourly rate").fill("85")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("main")).to_contain_text("saved")
    page.goto(job_url)
    journey.look(page, "freelancer reads the job")
    page.get_by_label("Cover letter").fill("I have built three booking widgets like this one.")
    page.get_by_label("Milestone 1 title").fill("Design")
    page.get_by_label("Milestone 1 amount").fill("400.00")
    page.get_by_label("Milestone 2 title").fill("Build")
    page.get_by_label("Milestone 2 amount").fill("1000.00")
    page.get_by_role("button", name="Submit proposal").click()
    expect(page.locator("main")).to_contain_text("$1,400.00")
    journey.look(page, "freelancer has proposed")

    # The client reads the proposal and sends an offer; the freelancer accepts it.
    page = client.page
    page.goto(job_url)
    page.get_by_role("link", name="Proposals (1)").click()
    journey.look(page, "client lists the proposals")
    page.get_by_role("link", name="Femi Example").click()
    expect(page.locator("main")).to_contain_text("I have built three booking widgets")
    journey.look(page, "client reads the proposal")
    page.get_by_role("button", name="Send offer").click()
    expect(page.locator("main")).to_contain_text("Offer sent. The freelancer has been told.")
    offer_url = page.url
    journey.look(page, "client has sent the offer")

    page = freelancer.page
    page.goto(offer_url)
    expect(page.locator("main")).to_contain_text("$1,400.00")
    journey.look(page, "freelancer reads the offer")
    page.get_by_role("button", name="Accept offer").click()
    expect(page.locator("main")).to_contain_text("Offer accepted. The contract is active.")
    expect(badge(page, "Design")).to_have_text("Not funded yet")
    workroom_url = page.url
    journey.look(page, "freelancer has accepted the offer")

    # The freelancer keeps the workroom open: what follows reaches it without a reload.
    watching = freelancer.page
    watching.evaluate("window.sameDocument = true")
    bell = watching.locator("[data-notification-bell]")
    unread = unread_count(bell)
    expect(watching.locator("[data-chat-connection]")).to_contain_text("Live")

    # The client says hello in the workroom chat; the freelancer sees it arrive.
    page = client.page
    page.goto(workroom_url)
    expect(page.locator("[data-chat-connection]")).to_contain_text("Live")
    page.get_by_label("Your message").fill("Welcome aboard! Funding the design now.")
    page.get_by_role("button", name="Send").click()
    expect(watching.locator("[data-chat-messages]")).to_contain_text("Welcome aboard!")
    journey.look(
        watching, "freelancer sees the message arrive", show=watching.locator("[data-chat-panel]")
    )

    # The client funds the first milestone by card through the sandbox checkout.
    panel = page.locator("#money-panel")
    panel.get_by_role("checkbox", name=re.compile("Design")).check()
    panel.get_by_role("button", name="Fund selected milestones").click()
    expect(page.get_by_role("heading", name="Pay $400.00 into escrow")).to_be_visible()
    journey.look(page, "client pays by card")
    page.get_by_role("textbox", name="Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_label("Name on the card").fill("Carla Example")
    page.get_by_role("button", name="Pay $400.00").click()
    expect(badge(page, "Design")).to_have_text("Funded — money in escrow", timeout=45_000)
    journey.look(page, "the design milestone is funded")

    # The freelancer's bell counted the funding, and the page was never reloaded.
    expect(bell).to_have_text(f"Notifications ({unread + 1} unread)")
    assert watching.evaluate("window.sameDocument") is True

    # The freelancer submits a file; the client asks for a revision; the freelancer
    # submits again; the client approves and the money is released.
    page = freelancer.page
    page.reload()
    card = page.locator("section.milestone-card").filter(has_text="1. Design")
    card.get_by_label("Message to the client").fill("Wireframes for the three booking steps.")
    card.get_by_label("Files").set_input_files(files=[text_file("wireframes.txt", "step 1, 2, 3")])
    card.get_by_role("button", name="Submit work").click()
    expect(page.locator("main")).to_contain_text("Submission 1 sent to the client.")
    expect(badge(page, "Design")).to_have_text("Work submitted — waiting for review")
    expect(card).to_contain_text("wireframes.txt")
    journey.look(page, "freelancer has submitted the design")

    page = client.page
    page.reload()
    card = page.locator("section.milestone-card").filter(has_text="1. Design")
    expect(card).to_contain_text("Wireframes for the three booking steps.")
    card.get_by_label("What needs to change?").fill("Please add the confirmation step.")
    card.get_by_role("button", name="Request revision").click()
    expect(page.locator("main")).to_contain_text(
        "Revision requested. The freelancer has been told."
    )
    expect(badge(page, "Design")).to_have_text("Funded — money in escrow")
    journey.look(page, "client has asked for a revision")

    page = freelancer.page
    page.reload()
    card = page.locator("section.milestone-card").filter(has_text="1. Design")
    expect(card).to_contain_text("Please add the confirmation step.")
    card.get_by_label("Message to the client").fill("Added the confirmation step.")
    card.get_by_label("Files").set_input_files(files=[text_file("wireframes-v2.txt", "1, 2, 3, 4")])
    card.get_by_role("button", name="Submit work").click()
    expect(page.locator("main")).to_contain_text("Submission 2 sent to the client.")
    journey.look(page, "freelancer has submitted again")

    page = client.page
    page.reload()
    money = page.locator("section.money-milestone").filter(has_text="1. Design")
    expect(money).to_contain_text("the work waits for the client's approval")
    money.get_by_role("button", name="Approve and release").click()
    expect(badge(page, "Design")).to_have_text("Released to the freelancer")
    money = page.locator("section.money-milestone").filter(has_text="1. Design")
    expect(money).to_contain_text("$360.00 to the freelancer (on hold until")
    expect(money).to_contain_text("$40.00 platform fee")
    journey.look(page, "client has approved and released the money")

    # The freelancer's money is pending for the hold, then available.
    page = freelancer.page
    page.goto("/money/")
    balances = page.locator("section").filter(has=page.get_by_role("heading", name="Balances"))
    expect(balances).to_contain_text("$360.00 from “Design” becomes available on")
    journey.look(page, "freelancer sees the pending balance")
    live_stack.run_python(
        "from datetime import timedelta\n"
        "from django.conf import settings\n"
        "from django.utils import timezone\n"
        "from escrow.tasks import run_settlement\n"
        "later = timezone.now() + timedelta(days=settings.PAYOUT_HOLD_DAYS, hours=1)\n"
        "assert not any(step.error for step in run_settlement(now=later))\n"
    )
    page.reload()
    expect(balances).not_to_contain_text("becomes available on")
    expect(balances.locator("tbody tr").first).to_contain_text("$360.00")
    journey.look(page, "freelancer sees the available balance")

    # The freelancer connects a payout account (the sandbox's onboarding) and is paid.
    page.get_by_role("button", name="Connect a payout account").click()
    expect(page.get_by_role("heading", name="Set up your payout account")).to_be_visible()
    journey.look(page, "freelancer sets up the payout account")
    page.get_by_label("Legal name").fill("Femi Example")
    page.get_by_label("Bank account (test)").fill("000123456789")
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_role("heading", name="Request a payout")).to_be_visible()
    page.get_by_role("button", name="Request payout").click()
    history = page.locator("section").filter(has=page.get_by_role("heading", name="Payout history"))
    expect(history).to_contain_text("$360.00")
    # Queued, then Sending, then Paid: how far the worker got by now is a matter of timing.
    expect(history.locator(".status-badge").first).to_have_text(
        re.compile(r"\b(Queued|Sending|Paid)\b")
    )
    # The worker sends it; the freelancer looks again a little later.
    reload_until(page, history.locator(".status-badge").first, "Paid")
    journey.look(page, "freelancer has been paid out", show=history)
