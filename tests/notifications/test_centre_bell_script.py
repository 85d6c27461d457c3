"""static/js/notifications.js run by Node against a minimal page and a scripted socket:
the bell's words follow the frames, and a dropped socket comes back with backoff."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "notifications.js"
NODE = shutil.which("node") or "node"  # the project's npm toolchain has it

# A page with the bell, a WebSocket class the test drives, and timers run by hand.
HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const steps = JSON.parse(process.argv[2]);
const counter = { textContent: "(2 unread)" };
const summary = { textContent: "" };
const bell = {
  dataset: { wsPath: "/ws/notifications/" },
  querySelector: (s) => (s === "[data-unread-count]" ? counter : null),
};
const listeners = {};
const timers = [];
const sockets = [];
class FakeSocket {
  constructor(url) { this.url = url; this.handlers = {}; sockets.push(this); }
  addEventListener(name, fn) { this.handlers[name] = fn; }
}
const window = {
  location: { protocol: "https:", host: "smartpay.test" },
  WebSocket: FakeSocket,
  addEventListener: (name, fn) => { listeners[name] = fn; },
  setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
  clearTimeout: () => {},
};
const events = [];
const document = {
  readyState: "complete",
  querySelector: (s) => (s === "[data-notification-bell]" ? bell
                       : s === "[data-notifications-summary]" ? summary : null),
  addEventListener: () => {},
  dispatchEvent: (e) => events.push(e.detail),
};
class CustomEvent { constructor(type, init) { this.type = type; this.detail = init.detail; } }
const context = {
  window, document, WebSocket: FakeSocket, CustomEvent, JSON, Math: Object.create(Math),
};
context.Math.random = () => 0.5;  // no jitter: delays are exact
vm.runInNewContext(fs.readFileSync(process.argv[3], "utf8"), context);
const log = [];
for (const step of steps) {
  const socket = sockets[sockets.length - 1];
  if (step.frame) socket.handlers.message({ data: JSON.stringify(step.frame) });
  if (step.raw) socket.handlers.message({ data: step.raw });
  if (step.close) socket.handlers.close({ code: step.close });
  if (step.fire) { const t = timers.shift(); log.push(t.ms); t.fn(); }
  log.push({ text: counter.textContent, summary: summary.textContent,
             sockets: sockets.length, pending: timers.length });
}
console.log(JSON.stringify({ log, url: sockets[0].url, events }));
"""


def run(steps: list[dict], tmp_path: Path) -> dict:
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    result = subprocess.run(
        [NODE, str(harness), json.dumps(steps), str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_bell_shows_the_counts_the_socket_sends(tmp_path):
    new = {"id": 9, "verb": "review", "title": "Reviewed", "url": "/r/", "read": False}
    out = run(
        [
            {"frame": {"type": "hello", "user_id": 1, "unread": 3}},
            {"frame": {"type": "notification", "notification": new, "unread": 4}},
            {"frame": {"type": "unread", "unread": 1}},
            {"raw": "not json"},
            {"frame": {"type": "unread", "unread": 0}},
        ],
        tmp_path,
    )
    assert out["url"] == "wss://smartpay.test/ws/notifications/"
    texts = [entry["text"] for entry in out["log"]]
    assert texts == ["(3 unread)", "(4 unread)", "(1 unread)", "(1 unread)", "(no unread)"]
    assert out["log"][1]["summary"] == "You have 4 unread notifications."
    assert out["log"][-1]["summary"] == "You have no unread notifications."
    assert out["events"] == [new]


def test_a_dropped_socket_reconnects_with_growing_delays_and_hello_resets_them(tmp_path):
    out = run(
        [
            {"close": 1006},
            {"fire": True},
            {"close": 1006},
            {"fire": True},
            {"close": 1006},
            {"fire": True},
            {"frame": {"type": "hello", "user_id": 1, "unread": 5}},
            {"close": 1006},
            {"fire": True},
        ],
        tmp_path,
    )
    delays = [entry for entry in out["log"] if isinstance(entry, int)]
    assert delays == [1000, 2000, 4000, 1000]
    assert out["log"][-1]["sockets"] == 5
    assert [e["text"] for e in out["log"] if isinstance(e, dict)][-2] == "(5 unread)"


def test_a_refusal_for_lack_of_login_is_not_retried(tmp_path):
    out = run([{"close": 4401}], tmp_path)
    assert out["log"] == [{"text": "(2 unread)", "summary": "", "sockets": 1, "pending": 0}]
