"""People using the live stack in their own browser contexts, and what each step leaves
behind: an axe-core check of the page and a screenshot.

Screenshots go to ``E2E_SCREENSHOTS`` when set, else to ``screenshots/`` in a temporary
folder (the stack's data folder; never into the repository).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, FilePayload, Locator, Page, expect

from tests.e2e.axe import axe_violations, describe
from tests.e2e.live_stack import LiveStack

PASSWORD = "calm-Escrow-2026!"

# The start of a seed script run in the stack (``LiveStack.run_python``): ``person(name,
# **roles)`` makes a user with a verified address who logs in with PASSWORD; ``TAG``
# keeps this run's people apart from other runs' in the same database.
PEOPLE_SEED = """
import json
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from marketplace.models import User

TAG, PASSWORD = {tag!r}, {password!r}

def person(name, **roles):
    user = User.objects.create(email=f"{{name}}-{{TAG}}@journey.test", first_name=name.title(),
                               last_name="Example", password=make_password(PASSWORD), **roles)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user
"""


def seed(stack: LiveStack, script: str) -> dict[str, Any]:
    """Run PEOPLE_SEED and then ``script`` in the stack; the JSON it printed last."""
    prelude = PEOPLE_SEED.format(tag=secrets.token_hex(3), password=PASSWORD)
    out = stack.run_python(prelude + script)
    return dict(json.loads(out.strip().splitlines()[-1]))


def text_file(name: str, text: str) -> FilePayload:
    """A small text file to attach, as a person would pick one from their disk."""
    return {"name": name, "mimeType": "text/plain", "buffer": text.encode()}


def tab_to(page: Page, target: Locator, most: int = 80) -> None:
    """Press Tab until ``target`` has the keyboard focus, as a keyboard user would."""
    for _ in range(most):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} never got the focus after {most} presses of Tab")


def screenshot_folder(data_dir: Path) -> Path:
    """``E2E_SCREENSHOTS`` if set, else ``screenshots/`` in a temporary ``data_dir``."""
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or data_dir / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Journey:
    """Numbers the steps of one journey; each step is checked by axe and photographed."""

    name: str
    folder: Path
    steps: int = 0
    checked: list[str] = field(default_factory=list)

    def look(self, page: Page, step: str, show: Locator | None = None) -> None:
        """The page as the person sees it now: no serious or critical axe violations,
        and a screenshot named after the step (scrolled to ``show``, if given)."""
        page.wait_for_load_state()
        if show is not None:
            show.scroll_into_view_if_needed()
        violations = axe_violations(page)
        assert not violations, f"{self.name} / {step} ({page.url}):\n{describe(violations)}"
        self.checked.append(page.url)
        self.steps += 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        page.screenshot(path=self.folder / f"{self.name}-{self.steps:02d}-{slug}.png")


@dataclass
class Person:
    """Someone with a browser of their own (cookies, tabs) on the live stack."""

    email: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, stack: LiveStack, email: str) -> Person:
        context = browser.new_context(base_url=stack.url, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        person = cls(email=email, context=context, page=page)
        page.on("pageerror", lambda error: person.errors.append(str(error)))
        return person

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"scripts failed in {self.email}'s browser: {self.errors}"

    def sign_up(self, stack: LiveStack, journey: Journey, *, role: str, first: str) -> None:
        """Sign up on the page and confirm the address with the link from the e-mail."""
        page = self.page
        page.goto("/accounts/signup/")
        journey.look(page, f"{first} signs up")
        page.get_by_label("Email").fill(self.email)
        page.get_by_label(role).check()
        page.get_by_label("First name").fill(first)
        page.get_by_label("Last name").fill("Example")
        page.get_by_label("Password:", exact=True).fill(PASSWORD)
        page.get_by_label("Password (again)").fill(PASSWORD)
        page.get_by_role("button", name="Sign Up").click()
        expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
        link = stack.link_in_mail(self.email, rf"{stack.url}/accounts/confirm-email/[^\s\"<>]+/")
        page.goto(link)
        expect(page.locator("main")).to_contain_text(f"confirm that {self.email}")
        journey.look(page, f"{first} confirms the e-mail address")
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("main")).to_contain_text(f"You have confirmed {self.email}")

    def log_in(self) -> None:
        page = self.page
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(self.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In", exact=True).click()
        expect(page.locator("main")).to_contain_text(f"Successfully signed in as {self.email}")
