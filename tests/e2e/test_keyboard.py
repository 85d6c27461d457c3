"""Keyboard only: a freelancer proposes and a client pays by card with Tab, typing,
Space and Enter — no pointer — against the live stack. What the keyboard reaches, and
in what order, is what these tests check; the outcome is checked as a person reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.journey import Journey, Person, screenshot_folder, seed, tab_to
from tests.e2e.live_stack import LiveStack

# A client with an open job and, from an earlier job, an active contract whose first
# milestone is not funded yet; a freelancer who may propose.
SEED = """
from marketplace.services.contracts import workroom_url
from tests.factories import make_contract, make_freelancer_profile, make_job, make_proposal

client = person("kim", is_client=True)
freelancer = person("lee", is_client=False, is_freelancer=True)
make_freelancer_profile(freelancer, headline="Keyboard-first front-end developer")
job = make_job(client, title=f"Audit our forms {TAG}")
earlier = make_job(client, title=f"Write the release notes {TAG}")
contract = make_contract(make_proposal(earlier, freelancer, amounts=(25_000,)))
print(json.dumps({
    "client": client.email, "freelancer": freelancer.email,
    "job": f"/jobs/{job.pk}/", "workroom": workroom_url(contract),
}))
"""


@pytest.fixture(scope="module")
def seeded(live_stack: LiveStack) -> dict[str, Any]:
    return seed(live_stack, SEED)


@pytest.fixture
def people(
    chromium: Browser, live_stack: LiveStack, seeded: dict[str, Any]
) -> Iterator[dict[str, Person]]:
    opened = {
        name: Person.open(chromium, live_stack, seeded[name]) for name in ("client", "freelancer")
    }
    yield opened
    for person in opened.values():
        person.close()


def test_a_freelancer_proposes_with_the_keyboard_alone(
    live_stack: LiveStack, seeded: dict[str, Any], people: dict[str, Person]
) -> None:
    journey = Journey("keyboard", screenshot_folder(live_stack.data_dir))
    freelancer = people["freelancer"]
    freelancer.log_in()
    page = freelancer.page
    page.goto(seeded["job"])

    tab_to(page, page.get_by_label("Cover letter"))
    page.keyboard.type("I test every form with a keyboard and a screen reader.")
    tab_to(page, page.get_by_label("Milestone 1 title"))
    page.keyboard.type("Audit")
    page.keyboard.press("Tab")  # the amount follows the title
    expect(page.get_by_label("Milestone 1 amount")).to_be_focused()
    page.keyboard.type("300.00")
    journey.look(page, "freelancer fills the proposal by keyboard")
    tab_to(page, page.get_by_role("button", name="Submit proposal"))
    page.keyboard.press("Enter")

    expect(page.locator("main")).to_contain_text("Your proposal is saved.")
    expect(page.locator("main")).to_contain_text("$300.00")
    expect(page.locator("main")).to_contain_text("Submitted")


def test_a_client_funds_a_milestone_with_the_keyboard_alone(
    live_stack: LiveStack, seeded: dict[str, Any], people: dict[str, Person]
) -> None:
    journey = Journey("keyboard", screenshot_folder(live_stack.data_dir))
    client = people["client"]
    client.log_in()
    page = client.page
    page.goto(seeded["workroom"])
    panel = page.locator("#money-panel")

    milestone = panel.get_by_role("checkbox", name="Milestone 1")
    tab_to(page, milestone)
    page.keyboard.press("Space")
    expect(milestone).to_be_checked()
    tab_to(page, panel.get_by_role("button", name="Fund selected milestones"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Pay $250.00 into escrow")).to_be_visible()
    tab_to(page, page.get_by_role("textbox", name="Card number"))
    page.keyboard.type("4242 4242 4242 4242")
    page.keyboard.press("Tab")
    page.keyboard.type("12/34")
    page.keyboard.press("Tab")
    page.keyboard.type("123")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name on the card")).to_be_focused()
    page.keyboard.type("Kim Example")
    journey.look(page, "client fills the card form by keyboard")
    page.keyboard.press("Enter")  # the form's one submit button: Pay $250.00

    card = page.locator("section.milestone-card").filter(has_text="Milestone 1")
    expect(card.locator(".status-badge")).to_have_text("Funded — money in escrow", timeout=45_000)
