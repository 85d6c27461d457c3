"""axe-core (from npm) run inside the page a journey is on.

The script goes in through the DevTools protocol (``page.evaluate``), not a ``<script>``
tag: the site's Content-Security-Policy forbids inline scripts, and the journeys keep
it on so they also prove the pages' own scripts live with it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    assert AXE.is_file(), f"{AXE} is missing: npm ci installs axe-core"
    return AXE.read_text()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations of impact serious or critical on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;true")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' +
                                                    n.failureSummary),
            }));
        }"""
    )
    return [violation for violation in result if violation["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"[{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )
