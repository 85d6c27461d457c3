// The arbiter console's split slider: keeps the range and the number input in step and
// shows the money each side gets, computed as the server does (whole minor units,
// rounded down; the platform fee comes out of the freelancer's share). Without
// JavaScript the form still works: the number input is posted and the page shows the
// split in words.
(function () {
  "use strict";

  var BPS = 10000n;

  // Like marketplace.money.format_amount: symbol, thousands separators, at most six
  // decimals, rounded half to even.
  function formatAmount(minor, exponent, symbol) {
    var shown = Math.min(exponent, 6);
    var drop = BigInt(exponent - shown);
    var scaled = minor;
    if (drop > 0n) {
      var unit = 10n ** drop;
      var quotient = minor / unit;
      var remainder = minor % unit;
      var twice = remainder * 2n;
      if (twice > unit || (twice === unit && quotient % 2n === 1n)) {
        quotient += 1n;
      }
      scaled = quotient;
    }
    var digits = scaled.toString().padStart(shown + 1, "0");
    var whole = digits.slice(0, digits.length - shown) || "0";
    var fraction = shown ? "." + digits.slice(digits.length - shown) : "";
    whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return symbol + whole + fraction;
  }

  function setUp(form) {
    var range = form.querySelector("[data-split-range]");
    var number = form.querySelector("[data-split-number]");
    if (!range || !number) {
      return;
    }
    var held = BigInt(form.dataset.held || "0");
    var feeBps = BigInt(form.dataset.feeBps || "0");
    var exponent = parseInt(form.dataset.exponent || "2", 10);
    var symbol = form.dataset.symbol || "";
    var out = {
      summary: form.querySelector("[data-split-summary]"),
      freelancer: form.querySelector("[data-split-freelancer]"),
      fee: form.querySelector("[data-split-fee]"),
      client: form.querySelector("[data-split-client]"),
    };

    function money(amount) {
      return formatAmount(amount, exponent, symbol);
    }

    function show(value) {
      var bps = parseInt(value, 10);
      if (isNaN(bps) || bps < 0 || bps > 10000) {
        if (out.summary) {
          out.summary.textContent = "The share is a whole number from 0 to 10000.";
        }
        return;
      }
      var gross = (held * BigInt(bps)) / BPS;
      var fee = (gross * feeBps) / BPS;
      var toFreelancer = gross - fee;
      var toClient = held - gross;
      var percent = String(bps / 100);
      if (out.freelancer) out.freelancer.textContent = money(toFreelancer);
      if (out.fee) out.fee.textContent = money(fee);
      if (out.client) out.client.textContent = money(toClient);
      if (out.summary) {
        out.summary.textContent =
          "At " + percent + " %: the freelancer gets " + money(toFreelancer) + " (" +
          money(gross) + " less the " + money(fee) + " fee), the client gets " +
          money(toClient) + " back.";
      }
    }

    range.hidden = false;
    if (number.value !== "") {
      range.value = number.value;
    }
    range.addEventListener("input", function () {
      number.value = range.value;
      show(range.value);
    });
    number.addEventListener("input", function () {
      range.value = number.value;
      show(number.value);
    });
    show(number.value || range.value);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-split]").forEach(setUp);
  });
})();
