/* The bell in the header: keeps "Notifications (3 unread)" current over /ws/notifications/.
 *
 * The server renders the count; this script only updates it. Frames it reads:
 *   {"type": "hello", "user_id", "unread"}          on (re)connect: the true count
 *   {"type": "notification", "notification", "unread"}  something new happened
 *   {"type": "unread", "unread"}                     something was read in another tab
 * A dropped socket is reopened with exponential backoff (1 s doubling to 30 s, with
 * jitter); a refusal for lack of login (close code 4401) is not retried. The count on
 * reconnect comes from "hello", so nothing missed while offline is lost. Loaded as a
 * file: the CSP forbids inline scripts.
 */
(function () {
  "use strict";

  var NOT_AUTHENTICATED = 4401;
  var FIRST_DELAY = 1000;
  var MAX_DELAY = 30000;

  function words(count) {
    return count ? "(" + count + " unread)" : "(no unread)";
  }

  function start(bell) {
    var counter = bell.querySelector("[data-unread-count]");
    var path = bell.dataset.wsPath || "/ws/notifications/";
    var delay = FIRST_DELAY;
    var timer = null;

    function show(count) {
      if (typeof count !== "number" || !counter) return;
      counter.textContent = words(count);
      bell.dataset.unread = String(count);
      var summary = document.querySelector("[data-notifications-summary]");
      if (summary) {
        summary.textContent = count
          ? "You have " + count + " unread notification" + (count === 1 ? "" : "s") + "."
          : "You have no unread notifications.";
      }
    }

    function announce(notification) {
      document.dispatchEvent(new CustomEvent("smartpay:notification", { detail: notification }));
    }

    function retry() {
      if (timer) return;
      var wait = Math.min(delay, MAX_DELAY) * (0.75 + Math.random() * 0.5);
      delay = Math.min(delay * 2, MAX_DELAY);
      timer = window.setTimeout(function () {
        timer = null;
        connect();
      }, wait);
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket;
      try {
        socket = new WebSocket(scheme + window.location.host + path);
      } catch (error) {
        retry();
        return;
      }
      socket.addEventListener("message", function (event) {
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (frame.type === "hello") {
          delay = FIRST_DELAY; // a good connection resets the backoff
          show(frame.unread);
        } else if (frame.type === "notification") {
          show(frame.unread);
          announce(frame.notification);
        } else if (frame.type === "unread") {
          show(frame.unread);
        }
      });
      socket.addEventListener("close", function (event) {
        if (event.code === NOT_AUTHENTICATED) return; // logged out: the page will say so
        retry();
      });
    }

    // A tab coming back from sleep reconnects at once instead of waiting out the backoff.
    window.addEventListener("online", function () {
      if (timer) {
        window.clearTimeout(timer);
        timer = null;
        delay = FIRST_DELAY;
        connect();
      }
    });

    connect();
  }

  function init() {
    var bell = document.querySelector("[data-notification-bell]");
    if (bell && "WebSocket" in window) start(bell);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
