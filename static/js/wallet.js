/* Sign-In with Ethereum from the browser wallet (EIP-1193 `window.ethereum`).
 *
 * A button with `data-wallet-connect`, `data-nonce-url` and `data-verify-url`
 * asks the wallet for an account, fetches the message the server wrote for it,
 * has the wallet sign it and posts the signature back. On success the page
 * reloads, or goes to `data-success-url` when the button names one (useful on
 * a login page). Progress and errors go to the `[data-wallet-status]` region.
 * Loaded with `defer`: the CSP forbids inline scripts.
 */
(function () {
  "use strict";

  var NO_WALLET =
    "No browser wallet found. Install MetaMask or another Ethereum wallet, then reload this page.";

  function csrfToken(button) {
    if (button.dataset.csrfToken) {
      return button.dataset.csrfToken;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // personal_sign takes the message as hex-encoded UTF-8.
  function toHex(text) {
    var bytes = new TextEncoder().encode(text);
    var hex = "0x";
    for (var i = 0; i < bytes.length; i += 1) {
      hex += bytes[i].toString(16).padStart(2, "0");
    }
    return hex;
  }

  function postJson(url, body, button) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(button),
      },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            var error = new Error(data.detail || "The server refused the request.");
            error.code = data.code;
            throw error;
          }
          return data;
        });
    });
  }

  function describe(error) {
    // EIP-1193 error codes: 4001 = the user said no; -32002 = a request is already open.
    if (error && error.code === 4001) {
      return "You cancelled the request in your wallet. Nothing was linked.";
    }
    if (error && error.code === -32002) {
      return "Your wallet already has a request waiting. Open the wallet to finish or cancel it.";
    }
    return (error && error.message) || "Something went wrong. Try again.";
  }

  function connect(button, status) {
    var say = function (text) {
      status.textContent = text;
    };
    var ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== "function") {
      say(NO_WALLET);
      return;
    }
    var address;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    say("Waiting for your wallet to share an account…");
    ethereum
      .request({ method: "eth_requestAccounts" })
      .then(function (accounts) {
        if (!accounts || !accounts.length) {
          throw new Error("Your wallet shared no account.");
        }
        address = accounts[0];
        say("Preparing the message to sign…");
        return postJson(button.dataset.nonceUrl, { address: address }, button);
      })
      .then(function (issued) {
        say("Check your wallet and sign the message for " + issued.domain + ".");
        return ethereum
          .request({ method: "personal_sign", params: [toHex(issued.message), address] })
          .then(function (signature) {
            say("Checking the signature…");
            return postJson(
              button.dataset.verifyUrl,
              { message: issued.message, signature: signature },
              button
            );
          });
      })
      .then(function () {
        say("Done. Reloading…");
        if (button.dataset.successUrl) {
          window.location.assign(button.dataset.successUrl);
        } else {
          window.location.reload();
        }
      })
      .catch(function (error) {
        say(describe(error));
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
  }

  function statusRegion(button) {
    var status = document.querySelector("[data-wallet-status]");
    if (!status) {
      // A page that forgot the live region still gets one, right after the button.
      status = document.createElement("p");
      status.setAttribute("data-wallet-status", "");
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      button.insertAdjacentElement("afterend", status);
    }
    return status;
  }

  function init() {
    document.querySelectorAll("[data-wallet-connect]").forEach(function (button) {
      var status = statusRegion(button);
      button.addEventListener("click", function () {
        connect(button, status);
      });
      if (!window.ethereum) {
        status.textContent = NO_WALLET;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
