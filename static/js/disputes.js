/* Dispute case page: show the money each side would get while a party types a split.
 *
 * The offer form (`form[data-split]`) carries the milestone's escrow in minor units
 * (`data-held`), the platform fee (`data-fee-bps`) and how to write amounts
 * (`data-exponent`, `data-symbol`). Amounts are whole minor units (BigInt: wei do not
 * fit a double), rounded down as the server rounds. Loaded as a file: the CSP forbids
 * inline scripts.
 */
(function () {
  "use strict";

  var BPS = 10000n;

  function format(minor, exponent, symbol) {
    var negative = minor < 0n;
    var digits = (negative ? -minor : minor).toString().padStart(exponent + 1, "0");
    var whole = exponent ? digits.slice(0, -exponent) : digits;
    var fraction = exponent ? digits.slice(-exponent).slice(0, Math.min(exponent, 6)) : "";
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + symbol + whole + (fraction ? "." + fraction : "");
  }

  function basisPoints(text) {
    var match = /^\s*(\d{1,3})(?:[.,](\d{0,2}))?\s*$/.exec(text || "");
    if (!match) return null;
    var bps = Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
    return bps >= 0 && bps <= 10000 ? BigInt(bps) : null;
  }

  function update(form) {
    var input = form.querySelector("input[name='freelancer_percent']");
    var held = BigInt(form.dataset.held || "0");
    var feeBps = BigInt(form.dataset.feeBps || "0");
    var exponent = Number(form.dataset.exponent || "2");
    var symbol = form.dataset.symbol || "";
    var bps = input ? basisPoints(input.value) : null;
    var out = {
      freelancer: form.querySelector("[data-split-freelancer]"),
      net: form.querySelector("[data-split-net]"),
      client: form.querySelector("[data-split-client]"),
    };
    if (bps === null) {
      Object.keys(out).forEach(function (key) {
        if (out[key]) out[key].textContent = "—";
      });
      return;
    }
    var gross = (held * bps) / BPS;
    var fee = (gross * feeBps) / BPS;
    if (out.freelancer) out.freelancer.textContent = format(gross, exponent, symbol);
    if (out.net) out.net.textContent = format(gross - fee, exponent, symbol);
    if (out.client) out.client.textContent = format(held - gross, exponent, symbol);
  }

  function start() {
    document.querySelectorAll("form[data-split]").forEach(function (form) {
      form.addEventListener("input", function () {
        update(form);
      });
      update(form);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
