"""The dispute journey, in Chromium, against the live stack: on a funded, delivered card
milestone the freelancer opens a dispute, both parties add evidence, the client asks
for an arbiter, and an arbiter (staff, signed in with a TOTP code) decides in the admin.
Both parties read the decision and, once the appeal window has passed, their balances.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.journey import PASSWORD, Journey, Person, screenshot_folder, seed, text_file
from tests.e2e.live_stack import LiveStack
from tests.totp import totp_code

# Run inside the stack (its database): two people with a $500.00 milestone the client
# paid by the sandbox card and the freelancer delivered, and an arbiter with TOTP on.
SEED = """
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Group, Permission
from marketplace.models import ARBITERS_GROUP
from marketplace.services.contracts import workroom_url
from marketplace.services.milestones import submit_milestone
from smartpay.demo_money import fund_by_card
from tests.factories import make_contract, make_job, make_proposal

client = person("dana", is_client=True)
freelancer = person("omar", is_client=False, is_freelancer=True)
arbiter = person("ines", is_client=False, is_staff=True)
arbiters, _ = Group.objects.get_or_create(name=ARBITERS_GROUP)
arbiters.permissions.add(Permission.objects.get(codename="resolve_disputes"))
arbiters.user_set.clear()  # the case goes to the least loaded arbiter: make it this one
arbiter.groups.add(arbiters)
secret = generate_totp_secret()
TOTP.activate(arbiter, secret)

job = make_job(client, title="Translate the staff handbook")
contract = make_contract(make_proposal(job, freelancer, amounts=(50_000,)))
contract.milestones.update(title="French translation")
milestone = contract.milestones.get()
fund_by_card(contract, milestone, f"dispute-journey-{TAG}")
submit_milestone(actor=freelancer, milestone_id=milestone.pk, message="The translation.")
print(json.dumps({
    "client": client.email, "freelancer": freelancer.email, "arbiter": arbiter.email,
    "secret": secret, "workroom": workroom_url(contract), "milestone": milestone.title,
}))
"""

# The decision's appeal window passes; the periodic step carries it out.
LAPSE_APPEAL_WINDOW = """
from datetime import timedelta
from django.conf import settings
from django.utils import timezone
from disputes.services import execute_due_decisions
later = timezone.now() + timedelta(days=settings.DISPUTE_APPEAL_DAYS, hours=1)
assert execute_due_decisions(now=later) >= 1
"""


@pytest.fixture
def seeded(live_stack: LiveStack) -> dict[str, str]:
    return seed(live_stack, SEED)


@pytest.fixture
def people(
    chromium: Browser, live_stack: LiveStack, seeded: dict[str, str]
) -> Iterator[dict[str, Person]]:
    opened = {
        name: Person.open(chromium, live_stack, seeded[name])
        for name in ("client", "freelancer", "arbiter")
    }
    yield opened
    for person in opened.values():
        person.close()


def section(page: Page, heading: str) -> Any:
    return page.get_by_role("region", name=heading, exact=True)


def test_dispute_journey_from_opening_to_decision_and_balances(
    live_stack: LiveStack, seeded: dict[str, str], people: dict[str, Person]
) -> None:
    journey = Journey("dispute", screenshot_folder(live_stack.data_dir))
    client, freelancer, arbiter = people["client"], people["freelancer"], people["arbiter"]
    title = seeded["milestone"]

    # The freelancer opens a dispute on the delivered milestone from the workroom.
    freelancer.log_in()
    page = freelancer.page
    page.goto(seeded["workroom"])
    card = page.locator("section.milestone-card").filter(has_text=title)
    expect(card.locator(".status-badge")).to_have_text("Work submitted — waiting for review")
    card.get_by_role("link", name=re.compile("Open a dispute")).click()
    journey.look(page, "freelancer opens a dispute")
    page.get_by_label("What is the dispute about?").select_option(
        label="The other party stopped responding"
    )
    page.get_by_label("Describe what went wrong").fill("The client stopped answering.")
    page.get_by_label("Amount in dispute").fill("500.00")
    page.get_by_role("button", name="Open the dispute").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"on “{title}”")
    expect(page.locator("h1 .status-badge")).to_have_text("Open — waiting for a response")
    dispute_url = page.url
    journey.look(page, "the dispute is open")

    # Both parties add evidence; the client asks for an arbiter.
    add_evidence(page, "I delivered on time; see the handbook.", "handbook-fr.txt")
    journey.look(page, "freelancer has added evidence")
    client.log_in()
    page = client.page
    page.goto("/disputes/")
    journey.look(page, "client lists the disputes")
    page.goto(dispute_url)
    expect(section(page, "Evidence")).to_contain_text("I delivered on time")
    add_evidence(page, "Half of the chapters are missing.", "missing-chapters.txt")
    arbitration = section(page, "Arbitration or withdrawal")
    arbitration.get_by_text("Ask for an arbiter", exact=True).first.click()  # opens the details
    arbitration.get_by_role("button", name="Ask for an arbiter").click()
    expect(page.locator("h1 .status-badge")).to_have_text("With an arbiter")
    journey.look(page, "client has asked for an arbiter")

    # The arbiter signs in with password and TOTP code and decides in the admin.
    page = arbiter.page
    page.goto("/admin/")
    page.get_by_label("Email").fill(arbiter.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("textbox", name="Code").fill(totp_code(seeded["secret"]))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page.get_by_role("heading", name="Operations console")).to_be_visible()
    journey.look(page, "arbiter opens the operations console")
    page.goto("/admin/disputes/dispute/")
    dispute_id = dispute_url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.locator("#result_list")).to_contain_text("With an arbiter")
    page.get_by_role("link", name=f"Dispute {dispute_id}", exact=True).click()
    expect(page.locator("#content")).to_contain_text("Half of the chapters are missing.")
    journey.look(page, "arbiter reads the case")
    decide = page.locator("#case-resolve")
    decide.get_by_label(re.compile("Freelancer's share \\(basis points")).fill("6000")
    decide.get_by_label("Rationale (both parties read it)").fill(
        "Most chapters were delivered; the missing ones are refunded."
    )
    decide.get_by_role("button", name="Decide with this split").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Dispute {dispute_id}: Decided — open to appeal."
    )
    journey.look(page, "arbiter has decided")

    # Both parties read the decision; after the appeal window it is carried out.
    for person in (client, freelancer):
        person.page.goto(dispute_url)
        expect(person.page.locator("h1 .status-badge")).to_have_text("Decided — open to appeal")
        decision = section(person.page, "The decision")
        expect(decision).to_contain_text("Most chapters were delivered")
        journey.look(person.page, f"{person.email.split('-')[0]} reads the decision")
    live_stack.run_python(LAPSE_APPEAL_WINDOW)

    # 60 % of $500.00 is $300.00, less the 10 % fee: $270.00 pending for the freelancer;
    # $200.00 back to the client's available balance.
    page = freelancer.page
    page.goto(dispute_url)
    expect(page.locator("h1 .status-badge")).to_have_text("Resolved by an arbiter")
    page.goto("/money/")
    expect(section(page, "Balances")).to_contain_text("$270.00")
    journey.look(page, "freelancer sees the share")
    page = client.page
    page.goto("/money/")
    expect(section(page, "Balances").locator("tbody tr").first).to_contain_text("$200.00")
    journey.look(page, "client sees the refund")


def add_evidence(page: Page, statement: str, filename: str) -> None:
    evidence = section(page, "Evidence")
    evidence.get_by_label("Statement").fill(statement)
    evidence.get_by_label("Files").set_input_files(files=[text_file(filename, statement)])
    evidence.get_by_role("button", name="Add evidence").click()
    expect(section(page, "Evidence")).to_contain_text(filename)
