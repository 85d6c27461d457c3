/* Chain rail: send the workroom panel's transactions from the browser wallet (EIP-1193).
 *
 * Every form with `data-chain-action` inside a `[data-chain-panel]` is sent with fetch;
 * the server answers with unsigned transactions ({"transactions": [...]}) that this
 * script sends in order with `eth_sendTransaction`, each after the one before it is
 * mined. Then it waits for `data-confirmations` blocks on top of the last one ("waiting
 * for confirmations (n/N)", counted as chain sync counts them: it reads up to
 * head − N) and reloads the panel until it no longer shows `[data-chain-waiting]`, that
 * is until chain sync has recorded the change. Nothing changes in SmartPay until then.
 * Progress and errors go to the panel's `[data-chain-status]` region.
 *
 * The panel is swapped in by htmx, which runs this file again on each swap: it listens
 * on the document once. Loaded as a file: the CSP forbids inline scripts. The panel's
 * buttons come disabled (`data-chain-button`), since a click before this script listens
 * would post the form natively; they are enabled once it does, and in every panel htmx
 * swaps in later.
 */
(function () {
  "use strict";

  function enableButtons(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("form[data-chain-action] button[data-chain-button]").forEach(function (b) {
      b.disabled = false;
    });
  }

  if (window.smartpayChainWallet) {
    enableButtons(document);
    return;
  }
  window.smartpayChainWallet = true;

  var POLL_MS = 1500;
  var PANEL_POLL_MS = 2000;
  var PANEL_POLLS = 90; // three minutes of chain sync runs, then ask for a reload
  var watching = 0; // the latest run: an older one stops reloading the panel
  var NO_WALLET =
    "No browser wallet found. Install MetaMask or another Ethereum wallet, then reload this page.";

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function toHex(decimal) {
    return "0x" + BigInt(decimal).toString(16);
  }

  function short(hash) {
    return hash.slice(0, 10) + "…" + hash.slice(-6);
  }

  function describe(error, sentCount) {
    var code = error && error.code;
    var sent =
      sentCount > 0
        ? " The " + sentCount + " transaction" + (sentCount > 1 ? "s" : "") + " before it went through."
        : " Nothing was sent.";
    if (code === 4001) return "You rejected the request in your wallet." + sent;
    if (code === -32002) {
      return "Your wallet already has a request waiting. Open the wallet to finish or cancel it.";
    }
    if (code === 4100) return "Your wallet did not allow this site to use that account." + sent;
    return ((error && error.message) || "Something went wrong. Try again.") + (sentCount ? sent : "");
  }

  function wallet() {
    return window.ethereum && typeof window.ethereum.request === "function" ? window.ethereum : null;
  }

  // The wallet must be on the page's chain: ask it to switch, and say so if it refuses.
  function ensureChain(ethereum, wanted, say) {
    var wantedHex = "0x" + Number(wanted).toString(16);
    return ethereum.request({ method: "eth_chainId" }).then(function (current) {
      if (parseInt(current, 16) === Number(wanted)) return;
      say("Asking your wallet to switch to chain " + wanted + "…");
      return ethereum
        .request({ method: "wallet_switchEthereumChain", params: [{ chainId: wantedHex }] })
        .catch(function (error) {
          var text =
            error && error.code === 4902
              ? "Your wallet does not know chain " + wanted + ". Add that network to your wallet, then try again."
              : "Your wallet stayed on chain " + parseInt(current, 16) + ". Switch it to chain " + wanted + " to continue.";
          var refused = new Error(text);
          refused.code = "wrong_chain";
          throw refused;
        });
    });
  }

  function requestTransactions(form, panel, account) {
    var body = new FormData(form);
    body.set("from", account);
    body.set("chain_id", panel.dataset.chainId);
    return fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": panel.dataset.csrfToken },
      body: body,
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

  function waitForReceipt(ethereum, hash) {
    return ethereum
      .request({ method: "eth_getTransactionReceipt", params: [hash] })
      .then(function (receipt) {
        if (receipt && receipt.blockNumber) return receipt;
        return sleep(POLL_MS).then(function () {
          return waitForReceipt(ethereum, hash);
        });
      });
  }

  // Confirmations are the blocks on top of the one that mined it: chain sync reads up to
  // head − N, so at N/N SmartPay can record the change (counting the block itself would
  // say N/N one block too early).
  function waitForConfirmations(ethereum, receipt, needed, say) {
    var mined = parseInt(receipt.blockNumber, 16);
    return ethereum.request({ method: "eth_blockNumber" }).then(function (head) {
      var seen = Math.min(needed, Math.max(0, parseInt(head, 16) - mined));
      say("Waiting for confirmations (" + seen + "/" + needed + ")…");
      if (seen >= needed) return seen;
      return sleep(POLL_MS).then(function () {
        return waitForConfirmations(ethereum, receipt, needed, say);
      });
    });
  }

  function sendAll(ethereum, transactions, accounts, say, progress) {
    var known = accounts.map(function (a) {
      return a.toLowerCase();
    });
    var last = null;
    var chain = Promise.resolve();
    transactions.forEach(function (tx, i) {
      chain = chain.then(function () {
        var step = "Transaction " + (i + 1) + " of " + transactions.length;
        if (known.indexOf(tx.from.toLowerCase()) === -1) {
          throw new Error(
            step + " must come from " + tx.from + ". Switch your wallet to that account and try again."
          );
        }
        say(step + ": confirm it in your wallet — " + tx.description);
        return ethereum
          .request({
            method: "eth_sendTransaction",
            params: [
              { from: tx.from, to: tx.to, data: tx.data, value: toHex(tx.value), chainId: toHex(tx.chainId) },
            ],
          })
          .then(function (hash) {
            say(step + " sent (" + short(hash) + "); waiting for it to be mined…");
            return waitForReceipt(ethereum, hash);
          })
          .then(function (receipt) {
            if (receipt.status === "0x0") {
              throw new Error(
                step + " was reverted by the escrow contract, so nothing changed. Reload the panel: " +
                  "the milestone may have moved on already."
              );
            }
            progress.sent = i + 1;
            last = receipt;
          });
      });
    });
    return chain.then(function () {
      return last;
    });
  }

  // Reload the panel until it shows no step waiting for chain sync (beat runs it every
  // few seconds), saying meanwhile what the wallet saw; give up after PANEL_POLLS.
  function reloadPanel(panel, confirmed, run, polls) {
    var container = document.getElementById("money-panel");
    if (!container || !window.htmx) {
      window.location.reload();
      return;
    }
    window.htmx
      .ajax("GET", panel.dataset.panelUrl, { target: container, swap: "innerHTML" })
      .then(function () {
        if (run !== watching) return; // another action started meanwhile
        var current = container.querySelector("[data-chain-panel]");
        var status = container.querySelector("[data-chain-status]");
        var waiting = current && current.querySelector("[data-chain-waiting]");
        if (current && waiting && polls < PANEL_POLLS) {
          if (status) status.textContent = confirmed + " Waiting for SmartPay to record it…";
          setTimeout(function () {
            if (run === watching) reloadPanel(current, confirmed, run, polls + 1);
          }, PANEL_POLL_MS);
          return;
        }
        if (!status) return;
        status.textContent = waiting
          ? confirmed + " SmartPay has not recorded it yet: reload this page in a minute."
          : confirmed + " SmartPay has recorded it: the panel shows the new state.";
      });
  }

  function run(form, panel) {
    var status = panel.querySelector("[data-chain-status]");
    var say = function (text) {
      status.textContent = text;
    };
    var ethereum = wallet();
    if (!ethereum) {
      say(NO_WALLET);
      return;
    }
    var button = form.querySelector("button[type=submit]");
    var progress = { sent: 0 };
    var needed = Number(panel.dataset.confirmations || 0);
    var accounts = [];
    var run = ++watching;
    button.disabled = true;
    say("Connecting to your wallet…");
    ethereum
      .request({ method: "eth_requestAccounts" })
      .then(function (granted) {
        accounts = granted || [];
        if (!accounts.length) throw new Error("Your wallet shared no account with this site.");
        return ensureChain(ethereum, panel.dataset.chainId, say);
      })
      .then(function () {
        say("Preparing the transactions…");
        return requestTransactions(form, panel, accounts[0]);
      })
      .then(function (answer) {
        return sendAll(ethereum, answer.transactions, accounts, say, progress);
      })
      .then(function (receipt) {
        return waitForConfirmations(ethereum, receipt, needed, say);
      })
      .then(function () {
        var confirmed = "Confirmed on chain (" + needed + "/" + needed + ").";
        say(confirmed + " Waiting for SmartPay to record it…");
        reloadPanel(panel, confirmed, run, 0);
      })
      .catch(function (error) {
        say(describe(error, progress.sent));
        button.disabled = false;
      });
  }

  document.addEventListener("htmx:load", function (event) {
    enableButtons(event.detail && event.detail.elt);
  });
  enableButtons(document);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form[data-chain-action]")) return;
    var panel = form.closest("[data-chain-panel]");
    if (!panel) return;
    event.preventDefault();
    run(form, panel);
  });
})();
