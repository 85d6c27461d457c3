"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

The chain fixtures of ``tests/chain`` are re-exported here (a conftest cannot be a
plugin below the root), so ``chain_rail`` works in these tests: the live server makes
its database transactional. Chromium is the system one (``/usr/bin/chromium``, which
``.ci/run`` installs); Playwright never downloads a browser.

Every request the page makes to the live server goes through ``route.fetch`` in the
test's thread. On SQLite the live server shares the test's in-memory connection, so the
page must not reach the database while the test does (say, while it runs chain sync):
routed requests run only while the test waits on Playwright, never beside test code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from marketplace.models import Contract, User
from marketplace.services.contracts import workroom_url
from tests.chain.conftest import _deployed, anvil_url, chain, chain_rail  # noqa: F401
from tests.chain.rail import ChainRail
from tests.e2e.live_stack import LiveStack, live_stack  # noqa: F401

T = TypeVar("T")
LAST_JOURNEY = pytest.StashKey[str]()
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Room for a loaded CI machine; each wait still ends as soon as the text is there.
expect.set_options(timeout=15_000)

# The page's EIP-1193 provider: every request goes to the test's wallet (Python), which
# answers from anvil or refuses the way a wallet does ({code, message}).
PROVIDER_SCRIPT = """
(() => {
  window.ethereum = {
    isSmartPayTestWallet: true,
    request: async function ({ method, params }) {
      const answer = await window.smartpayTestWallet(method, params || []);
      if (answer.error) {
        const error = new Error(answer.error.message);
        error.code = answer.error.code;
        throw error;
      }
      return answer.result;
    },
    on: function () {},
    removeListener: function () {},
  };
})();
"""


class Wallet:
    """A browser wallet holding one of anvil's unlocked accounts.

    ``chain_id`` is the chain the wallet says it is on (None: anvil's own);
    ``refuse`` maps a method to the error the wallet gives instead of doing it.
    """

    def __init__(
        self,
        rail: ChainRail,
        account: str,
        *,
        chain_id: int | None = None,
        refuse: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.rail = rail
        self.account = account.lower()  # as wallets answer eth_accounts
        self.chain_id = chain_id
        self.refuse = refuse or {}
        self.calls: list[str] = []

    @property
    def sent(self) -> int:
        return self.calls.count("eth_sendTransaction")

    def __call__(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method in self.refuse:
            return {"error": self.refuse[method]}
        self.calls.append(method)
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [self.account]}
        if method == "eth_chainId" and self.chain_id is not None:
            return {"result": hex(self.chain_id)}
        response: Any = self.rail.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            return {"error": dict(response["error"])}
        return {"result": response["result"]}


def as_worker(work: Callable[[], T]) -> T:
    """Run ``work`` on another thread, as a Celery worker or beat would: the test's own
    thread carries Playwright's event loop, where ``async_to_sync`` (channel-layer pushes
    on commit) refuses to run. An in-memory SQLite test database is handed over as the
    live server gets it; any other database gets the thread's own connection."""
    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and getattr(conn, "is_in_memory_db", lambda: False)()
    }

    def run() -> T:
        for alias, conn in shared.items():
            connections[alias] = conn
        try:
            return work()
        finally:
            if not shared:
                connections.close_all()

    for conn in shared.values():
        conn.inc_thread_sharing()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(run).result()
    finally:
        for conn in shared.values():
            conn.dec_thread_sharing()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium per test module.

    Playwright's sync API keeps an event loop on the test's thread while it runs, which
    Django takes for async code; the ORM calls made meanwhile (tests, fixtures, the
    database flush after each test) are plain synchronous ones, so Django is told so
    for exactly that span.
    """
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: apt-get install chromium"
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def _serialized(route: Route) -> None:
    response = route.fetch(max_redirects=0)
    route.fulfill(response=response)


@pytest.fixture
def browser_context(chromium: Browser, live_server: Any) -> Iterator[BrowserContext]:
    context = chromium.new_context(base_url=live_server.url)
    context.route(f"{live_server.url}/**", _serialized)
    try:
        yield context
    finally:
        context.close()


def log_in(context: BrowserContext, user: User, base_url: str) -> None:
    """Give the browser ``user``'s session cookie (as if they had logged in)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )


@pytest.fixture
def open_workroom(
    browser_context: BrowserContext, live_server: Any
) -> Iterator[Callable[[User, Contract, Wallet], Page]]:
    """``open_workroom(user, contract, wallet)``: ``user``'s workroom for ``contract`` with
    ``wallet`` as the browser's EIP-1193 provider, once its money panel has loaded."""

    script_errors: list[str] = []

    def open_(user: User, contract: Contract, wallet: Wallet) -> Page:
        log_in(browser_context, user, live_server.url)
        page = browser_context.new_page()
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.expose_function("smartpayTestWallet", wallet)
        page.add_init_script(PROVIDER_SCRIPT)
        page.goto(workroom_url(contract))
        expect(page.locator("[data-chain-panel]")).to_be_visible()
        return page

    yield open_
    assert not script_errors, f"the page's scripts failed: {script_errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing journey shows what the server and the worker logged."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    stack = getattr(item, "funcargs", {}).get("live_stack")
    if report.failed and isinstance(stack, LiveStack):
        report.sections.append(("live stack logs", stack.log_tail()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    journeys = [item for item in items if "live_stack" in getattr(item, "fixturenames", ())]
    config.stash[LAST_JOURNEY] = journeys[-1].nodeid if journeys else ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the session's last journey the live stack stops: the rest of the suite
    runs without a server and a worker idling beside it."""
    stack = getattr(item, "funcargs", {}).get("live_stack")
    yield
    if isinstance(stack, LiveStack) and item.nodeid == item.config.stash[LAST_JOURNEY]:
        stack.close()
