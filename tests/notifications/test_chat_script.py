"""static/js/chat.js run by Node against a minimal chat panel, a scripted socket and a
scripted history API: frames become words in the panel, a dropped socket comes back
with growing delays and catches up without showing a message twice, and a refusal
(4401, 4403) is final."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "chat.js"
NODE = shutil.which("node") or "node"  # the project's npm toolchain has it

# A tiny DOM (enough selectors for the panel), a WebSocket class the test drives, a fetch
# that answers from a queue, and timers run by hand.
HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const steps = JSON.parse(process.argv[2]);
const replies = JSON.parse(process.argv[3]);
const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
class El {
  constructor(tag) {
    this.tag = tag; this.dataset = {}; this.attrs = {}; this.children = [];
    this.parentNode = null; this._text = ""; this.handlers = {}; this.className = "";
    this.value = "";
  }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set textContent(v) { this._text = String(v); this.children = []; }
  get firstChild() { return this.children[0] || null; }
  appendChild(c) { c.parentNode = this; this.children.push(c); return c; }
  insertBefore(c, ref) {
    c.parentNode = this; this.children.splice(this.children.indexOf(ref), 0, c); return c;
  }
  removeChild(c) { this.children.splice(this.children.indexOf(c), 1); c.parentNode = null; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  addEventListener(name, fn) { this.handlers[name] = fn; }
  matches(sel) {
    const m = /^([a-z]*)\[([a-z-]+)(?:="([^"]*)")?\]$/.exec(sel);
    if (!m) return this.tag === sel;
    if (m[1] && this.tag !== m[1]) return false;
    const value = m[2].startsWith("data-") ? this.dataset[camel(m[2].slice(5))] : this.attrs[m[2]];
    return m[3] === undefined ? value !== undefined : value === m[3];
  }
  querySelectorAll(sel) {
    const out = [];
    const walk = (el) => el.children.forEach((c) => { if (c.matches(sel)) out.push(c); walk(c); });
    walk(this);
    return out;
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
}
function el(tag, data, text, children) {
  const e = new El(tag);
  Object.assign(e.dataset, data || {});
  if (text) e._text = text;
  (children || []).forEach((c) => e.appendChild(c));
  return e;
}
function shownMessage(id) {
  return el("li", { messageId: String(id) }, "", [el("div", {}, "earlier " + id)]);
}
const list = el("ol", { chatMessages: "" }, "", [shownMessage(1), shownMessage(2)]);
const members = [
  el("li", { chatMember: "1", name: "Felix", lastRead: "2" }, "Felix: ",
     [el("span", { chatPresence: "" }, "offline")]),
  el("li", { chatMember: "2", name: "Ines", lastRead: "1" }, "Ines: ",
     [el("span", { chatPresence: "" }, "offline")]),
];
const textarea = el("textarea");
const token = el("input"); token.setAttribute("name", "csrfmiddlewaretoken"); token.value = "tok";
const form = el("form", { chatForm: "" }, "", [token, textarea]);
const part = (name) => el("p", { [name]: "" });
const root = el("section", {
  chatPanel: "", conversationId: "7", wsPath: "/ws/chat/7/",
  messagesUrl: "/api/v1/conversations/7/messages/", readUrl: "/api/v1/conversations/7/read/",
  userId: "1",
}, "", [part("chatUnread"), ...members, part("chatConnection"), list, part("chatReceipt"),
        part("chatTyping"), form, part("chatError")]);
root.querySelector("[data-chat-unread]")._text = "No unread messages";

const timers = [];
const sockets = [];
class FakeSocket {
  constructor(url) { this.url = url; this.handlers = {}; this.sent = []; this.readyState = 0;
                     sockets.push(this); }
  addEventListener(name, fn) { this.handlers[name] = fn; }
  send(data) { this.sent.push(JSON.parse(data)); }
}
const fetched = [];
function fetch(url, init) {
  init = init || {};
  fetched.push({ url, method: init.method || "GET", headers: init.headers || {},
                 body: init.body ? JSON.parse(init.body) : null });
  const reply = replies.shift();
  return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(reply) });
}
const window = {
  location: { protocol: "https:", host: "smartpay.test" },
  WebSocket: FakeSocket,
  fetch,
  setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
  clearTimeout: () => {},
};
const document = {
  readyState: "complete",
  visibilityState: "visible",
  querySelectorAll: (s) => (s === "[data-chat-panel]" ? [root] : []),
  createElement: (tag) => new El(tag),
  addEventListener: () => {},
};
const context = { window, document, JSON, Date, Number, String, Math: Object.create(Math) };
context.Math.random = () => 0.5;  // no jitter: delays are exact
vm.runInNewContext(fs.readFileSync(process.argv[4], "utf8"), context);
const text = (name) => root.querySelector("[data-" + name + "]").textContent;
(async () => {
  const log = [];
  for (const step of steps) {
    const socket = sockets[sockets.length - 1];
    if (step.open) { socket.readyState = 1; socket.handlers.open({}); }
    for (const frame of step.frames || []) socket.handlers.message({ data: JSON.stringify(frame) });
    if (step.raw) socket.handlers.message({ data: step.raw });
    if (step.close) { socket.readyState = 3; socket.handlers.close({ code: step.close }); }
    if (step.fire) { const t = timers.shift(); log.push(t.ms); t.fn(); }
    if (step.submit !== undefined) {
      textarea.value = step.submit;
      form.handlers.submit({ preventDefault() {} });
    }
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    log.push({
      ids: list.querySelectorAll("[data-message-id]").map((e) => Number(e.dataset.messageId)),
      last: list.children[list.children.length - 1].textContent,
      typing: text("chat-typing"), receipt: text("chat-receipt"), unread: text("chat-unread"),
      connection: text("chat-connection"), error: text("chat-error"),
      presence: members.map((m) => m.querySelector("[data-chat-presence]").textContent),
      sockets: sockets.length, pending: timers.map((t) => t.ms),
    });
  }
  console.log(JSON.stringify({ log, url: sockets[0].url, fetched,
                               sent: sockets.map((s) => s.sent) }));
})();
"""


def run(steps: list[dict], tmp_path: Path, replies: list | None = None) -> dict:
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    result = subprocess.run(
        [NODE, str(harness), json.dumps(steps), json.dumps(replies or []), str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def message(id_: int, sender: int = 2, body: str = "", **extra) -> dict:
    return {
        "id": id_,
        "conversation_id": 7,
        "sender_id": sender,
        "sender_name": {1: "Felix", 2: "Ines"}[sender],
        "body": body or f"message {id_}",
        "attachment": None,
        "created_at": "2026-11-26T02:00:00+00:00",
        "edited_at": None,
        **extra,
    }


def frame(payload: dict) -> dict:
    return {"type": "message", "message": payload}


def states(out: dict) -> list[dict]:
    return [entry for entry in out["log"] if isinstance(entry, dict)]


def test_frames_become_messages_typing_words_receipts_and_presence(tmp_path):
    attachment = {
        "name": "brief.pdf",
        "size": 10,
        "content_type": "application/pdf",
        "url": "/api/v1/messages/3/attachment/",
    }
    out = run(
        [
            {"open": True, "frames": [{"type": "hello", "presence": {"1": "online", "2": "away"}}]},
            {"frames": [{"type": "typing", "user_id": 2}]},
            {"frames": [frame(message(3, body="Draft is up", attachment=attachment))]},
            {"frames": [{"type": "read", "user_id": 2, "message_id": 3}]},
            {"frames": [{"type": "presence", "user_id": 2, "state": "online"}]},
            {
                "frames": [
                    frame(message(3, body="Draft is up (v2)", edited_at="2026-11-26T02:01:00Z"))
                ]
            },
            {"raw": "not json"},
            {"frames": [{"type": "error", "code": "rate_limited", "detail": "Slow down."}]},
        ],
        tmp_path,
    )
    assert out["url"] == "wss://smartpay.test/ws/chat/7/"
    log = states(out)
    assert log[0]["presence"] == ["online", "away"]
    assert log[0]["connection"] == "Live: new messages appear here."
    assert log[1]["typing"] == "Ines is typing…"
    assert log[2]["ids"] == [1, 2, 3]
    assert "Ines" in log[2]["last"]
    assert "Draft is up" in log[2]["last"]
    assert "brief.pdf" in log[2]["last"]
    assert log[2]["typing"] == ""  # she sent it
    assert log[2]["receipt"] == ""
    assert log[3]["receipt"] == "Seen by Ines"
    assert log[4]["presence"] == ["online", "online"]
    assert log[5]["ids"] == [1, 2, 3]  # an edit replaces, never adds
    assert "Draft is up (v2)" in log[5]["last"]
    assert "(edited)" in log[5]["last"]
    assert log[6] == {**log[5]}
    assert log[7]["error"] == "Slow down."
    # The page was in view, so Ines's message was marked read over the socket.
    assert out["sent"][0] == [{"type": "read", "message_id": 3}]
    assert log[7]["unread"] == "No unread messages"
    assert out["fetched"] == []


def test_a_dropped_socket_reconnects_with_growing_delays_and_catches_up_once(tmp_path):
    newest = {"results": [message(4), message(5)], "next_before": 4}
    older = {"results": [message(2, sender=1), message(3)], "next_before": 2}
    out = run(
        [
            {"open": True},
            {"close": 1006},
            {"fire": True},
            {"close": 1006},
            {"fire": True},
            {"close": 1006},
            {"fire": True},
            # Back: the catch-up starts, and message 4 arrives live before it answers.
            {"open": True, "frames": [frame(message(4))]},
            {"close": 1006},
            {"fire": True},
        ],
        tmp_path,
        replies=[newest, older],
    )
    delays = [entry for entry in out["log"] if isinstance(entry, int)]
    assert delays == [1000, 2000, 4000, 1000]  # reset once a socket opened
    log = states(out)
    assert log[1]["connection"] == "Connection lost; reconnecting…"
    assert log[7]["ids"] == [1, 2, 3, 4, 5]
    assert log[-1]["sockets"] == 5
    assert [f["url"] for f in out["fetched"]] == [
        "/api/v1/conversations/7/messages/?limit=100",
        "/api/v1/conversations/7/messages/?limit=100&before=4",
    ]


def test_the_send_form_uses_the_socket_when_open_and_the_api_otherwise(tmp_path):
    out = run(
        [
            {"submit": "Before the socket"},
            {"open": True, "submit": "  Over the socket  "},
            {"submit": "   "},
        ],
        tmp_path,
        replies=[message(3, sender=1, body="Before the socket")],
    )
    post = out["fetched"][0]
    assert post["method"] == "POST"
    assert post["url"] == "/api/v1/conversations/7/messages/"
    assert post["headers"]["X-CSRFToken"] == "tok"
    assert post["body"] == {"body": "Before the socket"}
    log = states(out)
    assert log[0]["ids"] == [1, 2, 3]
    assert out["sent"][0] == [{"type": "message", "body": "Over the socket"}]
    assert len(out["fetched"]) == 1


def test_refusals_are_not_retried(tmp_path):
    for code, words in (
        (4403, "You are not in this conversation."),
        (4401, "Sign in again to keep chatting."),
    ):
        out = run([{"close": code}], tmp_path)
        assert out["log"][0]["pending"] == []
        assert out["log"][0]["sockets"] == 1
        assert out["log"][0]["connection"] == words
