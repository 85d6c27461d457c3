/* The chat panel (templates/notifications/_chat_panel.html), kept live over
 * /ws/chat/<id>/. Frames from the socket are drawn into the panel; a dropped socket
 * comes back after a growing, jittered delay (never after 4401 "sign in" or 4403 "not a
 * member"), and once it is back the history API fills in what was said meanwhile,
 * each message once. Without a socket the form still posts through the API. */
(function () {
  "use strict";

  var BASE_DELAY = 1000;
  var MAX_DELAY = 30000;
  var FINAL_CODES = { 4401: "Sign in again to keep chatting.", 4403: "You are not in this conversation." };
  var TYPING_SHOWN_MS = 5000;
  var TYPING_EVERY_MS = 3000;
  var CATCH_UP_PAGES = 10;

  function find(root, selector) { return root.querySelector(selector); }
  function say(el, words) { if (el) el.textContent = words; }

  function setUp(root) {
    if (root.dataset.chatReady) return;
    root.dataset.chatReady = "1";
    var data = root.dataset;
    var me = Number(data.userId);
    var list = find(root, "[data-chat-messages]");
    var form = find(root, "[data-chat-form]");
    var field = form ? form.querySelector("textarea") : null;
    var shown = {};
    var lastId = 0;
    var unread = 0;
    var socket = null;
    var attempt = 0;
    var stopped = false;
    var typingTimer = null;
    var lastTyping = 0;

    var existing = list.querySelectorAll("[data-message-id]");
    for (var i = 0; i < existing.length; i++) {
      var id = Number(existing[i].dataset.messageId);
      shown[id] = existing[i];
      if (id > lastId) lastId = id;
    }
    var unreadText = (find(root, "[data-chat-unread]") || {}).textContent || "";
    var counted = /^(\d+)/.exec(unreadText);
    unread = counted ? Number(counted[1]) : 0;

    function member(userId) { return find(root, '[data-chat-member="' + userId + '"]'); }
    function nameOf(userId) {
      var el = member(userId);
      return el ? el.dataset.name : "Someone";
    }

    function showUnread() {
      say(find(root, "[data-chat-unread]"),
        unread === 0 ? "No unread messages"
          : unread + " unread message" + (unread === 1 ? "" : "s"));
    }

    function showReceipt() {
      var names = [];
      var members = root.querySelectorAll("[data-chat-member]");
      for (var i = 0; i < members.length; i++) {
        var el = members[i];
        if (Number(el.dataset.chatMember) === me) continue;
        if (lastId && Number(el.dataset.lastRead || 0) >= lastId) names.push(el.dataset.name);
      }
      say(find(root, "[data-chat-receipt]"), names.length ? "Seen by " + names.join(", ") : "");
    }

    function fill(li, message) {
      while (li.firstChild) li.removeChild(li.firstChild);
      var sender = document.createElement("strong");
      sender.className = "chat-sender";
      sender.textContent = message.sender_name || "SmartPay";
      li.appendChild(sender);
      var time = document.createElement("time");
      time.setAttribute("datetime", message.created_at);
      time.textContent = " " + new Date(message.created_at).toLocaleString() + " ";
      li.appendChild(time);
      if (message.edited_at) {
        var edited = document.createElement("span");
        edited.className = "chat-edited";
        edited.textContent = "(edited)";
        li.appendChild(edited);
      }
      var body = document.createElement("div");
      body.className = "chat-body";
      body.textContent = message.body;
      li.appendChild(body);
      if (message.attachment) {
        var p = document.createElement("p");
        p.className = "chat-attachment";
        var link = document.createElement("a");
        link.setAttribute("href", message.attachment.url);
        link.textContent = message.attachment.name;
        p.appendChild(link);
        li.appendChild(p);
      }
    }

    function csrf() {
      var token = form ? form.querySelector('input[name="csrfmiddlewaretoken"]') : null;
      return token ? token.value : "";
    }

    function markRead(messageId) {
      if (socket && socket.readyState === 1) {
        socket.send(JSON.stringify({ type: "read", message_id: messageId }));
      } else if (data.readUrl) {
        window.fetch(data.readUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
          body: JSON.stringify({ message_id: messageId }),
        }).catch(function () {});
      }
      unread = 0;
      showUnread();
    }

    function show(message) {
      var li = shown[message.id];
      if (li) { fill(li, message); return; }  // an edit: same message, new words
      var empty = find(root, "[data-chat-empty]");
      if (empty && empty.parentNode) empty.parentNode.removeChild(empty);
      li = document.createElement("li");
      li.className = "chat-message";
      li.dataset.messageId = String(message.id);
      fill(li, message);
      // Caught-up messages may be older than one the socket already delivered.
      var later = null;
      var items = list.querySelectorAll("[data-message-id]");
      for (var i = 0; i < items.length && !later; i++) {
        if (Number(items[i].dataset.messageId) > message.id) later = items[i];
      }
      if (later) list.insertBefore(li, later);
      else list.appendChild(li);
      shown[message.id] = li;
      if (message.id > lastId) lastId = message.id;
      if (message.sender_id !== me && message.sender_id !== null) {
        if (document.visibilityState === "hidden") { unread += 1; showUnread(); }
        else markRead(message.id);
        say(find(root, "[data-chat-typing]"), "");
      }
      showReceipt();
    }

    function getJSON(url) {
      return window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("history " + response.status);
          return response.json();
        });
    }

    /* Read history pages, newest first, until one reaches a message already shown. */
    function catchUp() {
      var since = lastId;
      var found = [];
      function page(before, left) {
        var url = data.messagesUrl + "?limit=100" + (before ? "&before=" + before : "");
        return getJSON(url).then(function (answer) {
          var results = answer.results || [];
          for (var i = 0; i < results.length; i++) if (results[i].id > since) found.push(results[i]);
          var reached = !results.length || results[0].id <= since;
          if (!reached && answer.next_before && left > 1) return page(answer.next_before, left - 1);
        });
      }
      return page(null, CATCH_UP_PAGES).then(function () {
        found.sort(function (a, b) { return a.id - b.id; });
        for (var i = 0; i < found.length; i++) if (!shown[found[i].id]) show(found[i]);
      }).catch(function () {
        say(find(root, "[data-chat-connection]"), "Some messages may be missing; reload the page.");
      });
    }

    function onFrame(frame) {
      if (frame.type === "message" && frame.message) show(frame.message);
      else if (frame.type === "typing") {
        if (frame.user_id === me) return;
        say(find(root, "[data-chat-typing]"), nameOf(frame.user_id) + " is typing…");
        if (typingTimer) window.clearTimeout(typingTimer);
        typingTimer = window.setTimeout(function () {
          say(find(root, "[data-chat-typing]"), "");
        }, TYPING_SHOWN_MS);
      } else if (frame.type === "read") {
        var el = member(frame.user_id);
        if (el && Number(el.dataset.lastRead || 0) < frame.message_id) {
          el.dataset.lastRead = String(frame.message_id);
        }
        showReceipt();
      } else if (frame.type === "presence") {
        say(member(frame.user_id) && find(member(frame.user_id), "[data-chat-presence]"), frame.state);
      } else if (frame.type === "hello") {
        var states = frame.presence || {};
        for (var userId in states) {
          var who = member(userId);
          if (who) say(find(who, "[data-chat-presence]"), states[userId]);
        }
      } else if (frame.type === "error") {
        say(find(root, "[data-chat-error]"), frame.detail || "That did not go through.");
      }
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new window.WebSocket(scheme + window.location.host + data.wsPath);
      socket.addEventListener("open", function () {
        var again = attempt > 0;
        attempt = 0;
        say(find(root, "[data-chat-connection]"), "Live: new messages appear here.");
        if (again) catchUp();
      });
      socket.addEventListener("message", function (event) {
        var frame;
        try { frame = JSON.parse(event.data); } catch (e) { return; }
        if (frame && typeof frame === "object") onFrame(frame);
      });
      socket.addEventListener("close", function (event) {
        socket = null;
        if (FINAL_CODES[event.code]) {
          stopped = true;
          say(find(root, "[data-chat-connection]"), FINAL_CODES[event.code]);
          return;
        }
        if (stopped) return;
        var delay = Math.min(MAX_DELAY, BASE_DELAY * Math.pow(2, attempt));
        delay = Math.round(delay * (0.75 + Math.random() * 0.5));  // jitter: ±25%
        attempt += 1;
        say(find(root, "[data-chat-connection]"), "Connection lost; reconnecting…");
        window.setTimeout(connect, delay);
      });
    }

    function post(body) {
      return window.fetch(data.messagesUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrf(),
        },
        body: JSON.stringify({ body: body }),
      }).then(function (response) {
        return response.json().then(function (answer) {
          if (!response.ok) throw new Error(answer.detail || "Not sent.");
          show(answer);
        });
      });
    }

    if (form && field) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = field.value.trim();
        if (!body) return;
        say(find(root, "[data-chat-error]"), "");
        if (socket && socket.readyState === 1) {
          socket.send(JSON.stringify({ type: "message", body: body }));
          field.value = "";
          return;
        }
        post(body).then(function () { field.value = ""; }, function (error) {
          say(find(root, "[data-chat-error]"), error.message);
        });
      });
      field.addEventListener("input", function () {
        var now = Date.now();
        if (socket && socket.readyState === 1 && now - lastTyping > TYPING_EVERY_MS) {
          lastTyping = now;
          socket.send(JSON.stringify({ type: "typing" }));
        }
      });
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "hidden" && unread > 0) markRead(lastId);
    });
    showReceipt();
    connect();
  }

  function setUpAll() {
    var panels = document.querySelectorAll("[data-chat-panel]");
    for (var i = 0; i < panels.length; i++) setUp(panels[i]);
  }

  // The panel arrives through htmx after the page, and may be swapped in again.
  document.addEventListener("htmx:load", setUpAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpAll);
  else setUpAll();
})();
