"""A small Stripe API double, bound to 127.0.0.1, for the real ``stripe`` SDK to talk to.

It answers the calls ``StripeProvider`` makes with Stripe's JSON shapes and
status codes: form-encoded bodies (``metadata[key]=...``), Bearer auth,
``Idempotency-Key`` (same key and parameters replay the first answer; other
parameters get a 400 ``idempotency_error``), Stripe's error JSON, and list
pagination. Tests inject faults (``fail_next``, ``delay_next``, ``drop_next``)
and play the customer's part (``succeed_payment``, ``complete_onboarding``).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Obj = dict[str, Any]
Answer = tuple[int, Obj]

CANCELABLE = {
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
}
# Stripe's test payment methods, as /confirm takes them.
DECLINES = {
    "pm_card_chargeDeclined": ("Your card was declined.", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "Your card has insufficient funds.",
        "insufficient_funds",
    ),
}


class StripeFailure(Exception):
    def __init__(self, status: int, error_type: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": error_type, "message": message, **extra}}


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeFailure:
    return StripeFailure(400, "invalid_request_error", message, code=code, param=param)


def missing(kind: str, object_id: str, param: str | None = None) -> StripeFailure:
    failure = StripeFailure(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing"
    )
    if param:  # a missing object named in the body is a 400, as on Stripe
        failure = invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
    return failure


def parse_form(text: str) -> Obj:
    """``a[b][c]=1&l[0]=x`` -> ``{"a": {"b": {"c": "1"}}, "l": ["x"]}``."""
    result: Obj = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(result)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


@dataclass
class Fault:
    path_prefix: str
    times: int
    status: int = 0  # 0: answer normally (after the delay)
    error_type: str = "api_error"
    code: str | None = None
    message: str = ""
    delay: float = 0.0
    drop: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    params: Obj
    idempotency_key: str | None
    headers: dict[str, str] = field(default_factory=dict)


class FakeStripe:
    """The server and its state. ``url`` goes into ``STRIPE_API_BASE``.

    ``objects`` holds everything created by id, ``requests`` every call received,
    ``balance`` the balance transactions; set ``refund_status = "pending"`` to have
    new refunds wait for a later ``charge.refunded``.
    """

    def __init__(self, api_key: str = "sk_test_fake") -> None:
        self.api_key = api_key
        self.lock = threading.RLock()
        self.reset()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, Obj] = {}
            self.requests: list[Recorded] = []
            self.faults: list[Fault] = []
            self.idempotent: dict[str, tuple[str, Answer]] = {}
            self.balance: list[Obj] = []  # balance transactions, oldest first
            self.refund_status = "succeeded"

    # --- what tests use --------------------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str,
        status: int = 500,
        error_type: str = "api_error",
        *,
        times: int = 1,
        code: str | None = None,
        message: str = "",
    ) -> None:
        """The next ``times`` requests under ``path_prefix`` fail before doing anything."""
        text = message or {402: "Your card was declined.", 429: "Too many requests."}.get(
            status, "An unknown error occurred"
        )
        self.faults.append(Fault(path_prefix, times, status, error_type, code, text))

    def delay_next(self, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next requests late (after doing the work), e.g. past a client timeout."""
        self.faults.append(Fault(path_prefix, times, delay=seconds))

    def drop_next(self, path_prefix: str, *, times: int = 1) -> None:
        """Close the connection without an answer (a network failure)."""
        self.faults.append(Fault(path_prefix, times, drop=True))

    def of_kind(self, object_name: str) -> list[Obj]:
        return [o for o in self.objects.values() if o["object"] == object_name]

    def posts(self, path_prefix: str = "/v1/") -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(path_prefix)]

    def succeed_payment(self, payment_intent_id: str, payment_method: str = "pm_card_visa") -> Obj:
        """The customer pays, as Stripe.js would; returns the PaymentIntent."""
        with self.lock:
            return self._confirm(payment_intent_id, {"payment_method": payment_method})

    def complete_onboarding(self, account_id: str) -> Obj:
        with self.lock:
            account = self._get("account", account_id)
            account.update(payouts_enabled=True, charges_enabled=True, details_submitted=True)
            account["capabilities"] = {"transfers": "active"}
            account["requirements"] = {"currently_due": [], "eventually_due": [], "past_due": []}
            return account

    def add_balance(self, amount: int, currency: str = "usd", type_: str = "adjustment") -> Obj:
        with self.lock:
            return self._balance(amount, currency, type_, "")

    # --- HTTP ------------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: str, headers: dict[str, str]) -> Answer | None:
        """Status and JSON for one request; ``None`` means drop the connection."""
        url = urlsplit(target)
        params = parse_form(url.query if method == "GET" else body)
        key = headers.get("idempotency-key")
        with self.lock:
            self.requests.append(Recorded(method, url.path, params, key, headers))
            fault = self._take_fault(url.path)
        if fault and fault.drop:
            return None
        if fault and fault.status:
            extra = {"code": fault.code} if fault.code else {}
            return fault.status, StripeFailure(
                fault.status, fault.error_type, fault.message, **extra
            ).body
        answer = self._answer(method, url.path, params, key, headers)
        if fault and fault.delay:
            time.sleep(fault.delay)
        return answer

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if path.startswith(fault.path_prefix) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _answer(
        self, method: str, path: str, params: Obj, key: str | None, headers: dict[str, str]
    ) -> Answer:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            shown = headers.get("authorization", "").removeprefix("Bearer ")[:8]
            return 401, invalid(f"Invalid API Key provided: {shown}****").body
        with self.lock:
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            if method == "POST" and key in self.idempotent:
                first, answer = self.idempotent[key]
                if first != fingerprint:
                    return 400, StripeFailure(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                    ).body
                return answer
            try:
                answer = 200, self._route(method, path, params)
            except StripeFailure as failure:
                answer = failure.status, failure.body
            # Like Stripe: results are kept once the endpoint ran (validation errors aren't).
            if method == "POST" and key and answer[0] in (200, 402):
                self.idempotent[key] = (fingerprint, answer)
            return answer

    def _route(self, method: str, path: str, params: Obj) -> Obj:
        for route_method, pattern, action in self._routes():
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return action(params, *match.groups())
        raise StripeFailure(404, "invalid_request_error", f"Unrecognized request URL ({path}).")

    def _routes(self) -> list[tuple[str, str, Callable[..., Obj]]]:
        return [
            ("POST", r"/v1/payment_intents", self._create_payment_intent),
            ("GET", r"/v1/payment_intents/([^/]+)", self._read("payment_intent")),
            ("POST", r"/v1/payment_intents/([^/]+)", self._update_payment_intent),
            ("POST", r"/v1/payment_intents/([^/]+)/cancel", self._cancel),
            ("POST", r"/v1/payment_intents/([^/]+)/confirm", self._confirm_request),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds/([^/]+)", self._read("refund")),
            ("POST", r"/v1/accounts", self._create_account),
            ("GET", r"/v1/accounts/([^/]+)", self._read("account")),
            ("POST", r"/v1/accounts/([^/]+)", self._update_account),
            ("POST", r"/v1/account_links", self._create_account_link),
            ("POST", r"/v1/transfers", self._create_transfer),
            ("GET", r"/v1/transfers/([^/]+)", self._read("transfer")),
            ("GET", r"/v1/balance_transactions", self._list_balance),
        ]

    # --- objects ----------------------------------------------------------------------------

    def _new(self, prefix: str, object_name: str, **fields: Any) -> Obj:
        obj = {
            "id": f"{prefix}_{secrets.token_hex(12)}",
            "object": object_name,
            "created": int(time.time()),
            "livemode": False,
            **fields,
        }
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, object_name: str, object_id: str, param: str | None = None) -> Obj:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != object_name:
            raise missing(object_name, object_id, param)
        return obj

    def _read(self, object_name: str) -> Callable[..., Obj]:
        return lambda params, object_id: self._get(object_name, object_id)

    def _balance(self, amount: int, currency: str, type_: str, source: str) -> Obj:
        txn = self._new(
            "txn",
            "balance_transaction",
            amount=amount,
            currency=currency,
            fee=0,
            net=amount,
            type=type_,
            source=source,
            status="available",
            reporting_category=type_,
        )
        self.balance.append(txn)
        return txn

    def _create_payment_intent(self, params: Obj) -> Obj:
        amount = _amount(params)
        if amount < 50:
            raise invalid("Amount must be at least $0.50 usd", code="amount_too_small")
        currency = _currency(params)
        intent = self._new(
            "pi",
            "payment_intent",
            amount=amount,
            amount_capturable=0,
            amount_received=0,
            currency=currency,
            automatic_payment_methods=_bools(params.get("automatic_payment_methods")),
            capture_method=params.get("capture_method", "automatic"),
            confirmation_method="automatic",
            canceled_at=None,
            cancellation_reason=None,
            last_payment_error=None,
            latest_charge=None,
            metadata=dict(params.get("metadata") or {}),
            payment_method=None,
            payment_method_types=["card"],
            status="requires_payment_method",
        )
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        return intent

    def _update_payment_intent(self, params: Obj, intent_id: str) -> Obj:
        intent = self._get("payment_intent", intent_id)
        intent["metadata"] = {**intent["metadata"], **(params.get("metadata") or {})}
        return intent

    def _cancel(self, params: Obj, intent_id: str) -> Obj:
        intent = self._get("payment_intent", intent_id)
        if intent["status"] not in CANCELABLE:
            raise invalid(
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be canceled: {', '.join(sorted(CANCELABLE))}.",
                code="payment_intent_unexpected_state",
            )
        intent.update(
            status="canceled",
            canceled_at=int(time.time()),
            cancellation_reason=params.get("cancellation_reason"),
        )
        return intent

    def _confirm_request(self, params: Obj, intent_id: str) -> Obj:
        return self._confirm(intent_id, params)

    def _confirm(self, intent_id: str, params: Obj) -> Obj:
        intent = self._get("payment_intent", intent_id)
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise invalid(
                "You cannot confirm this PaymentIntent because it has a status of "
                f"{intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        method = params.get("payment_method", "pm_card_visa")
        if method in DECLINES:
            message, decline_code = DECLINES[method]
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": message,
            }
            intent.update(status="requires_payment_method", last_payment_error=error)
            raise StripeFailure(
                402, "card_error", message, code="card_declined", decline_code=decline_code
            )
        charge = self._new(
            "ch",
            "charge",
            amount=intent["amount"],
            amount_captured=intent["amount"],
            amount_refunded=0,
            currency=intent["currency"],
            payment_intent=intent["id"],
            metadata=dict(intent["metadata"]),
            paid=True,
            captured=True,
            refunded=False,
            status="succeeded",
        )
        txn = self._balance(intent["amount"], intent["currency"], "charge", charge["id"])
        charge["balance_transaction"] = txn["id"]
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            latest_charge=charge["id"],
            last_payment_error=None,
            payment_method=method,
        )
        return intent

    def _create_refund(self, params: Obj) -> Obj:
        intent = self._get("payment_intent", params.get("payment_intent", ""), "payment_intent")
        if intent["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        charge = self.objects[intent["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = _amount(params) if "amount" in params else left
        if amount > left:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        refund = self._new(
            "re",
            "refund",
            amount=amount,
            currency=charge["currency"],
            charge=charge["id"],
            payment_intent=intent["id"],
            metadata=dict(params.get("metadata") or {}),
            reason=params.get("reason"),
            status=self.refund_status,
        )
        refund["balance_transaction"] = self._balance(
            -amount, charge["currency"], "refund", refund["id"]
        )["id"]
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return refund

    def _create_account(self, params: Obj) -> Obj:
        if params.get("type") not in ("express", "standard", "custom"):
            raise invalid("Invalid type: must be one of express, standard, custom", param="type")
        requested = {
            name: "inactive"
            for name, ask in (params.get("capabilities") or {}).items()
            if ask.get("requested") == "true"
        }
        return self._new(
            "acct",
            "account",
            type=params["type"],
            country=params.get("country", "US"),
            email=params.get("email"),
            capabilities=requested,
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            metadata=dict(params.get("metadata") or {}),
            requirements={
                "currently_due": ["external_account", "tos_acceptance.date"],
                "eventually_due": ["external_account", "tos_acceptance.date"],
                "past_due": [],
            },
        )

    def _update_account(self, params: Obj, account_id: str) -> Obj:
        account = self._get("account", account_id)
        account["metadata"] = {**account["metadata"], **(params.get("metadata") or {})}
        if "email" in params:
            account["email"] = params["email"]
        return account

    def _create_account_link(self, params: Obj) -> Obj:
        account = self._get("account", params.get("account", ""), "account")
        for name in ("refresh_url", "return_url"):
            if not params.get(name):
                raise invalid(f"Missing required param: {name}.", param=name)
        if params.get("type") not in ("account_onboarding", "account_update"):
            raise invalid("Invalid type: must be account_onboarding or account_update")
        now = int(time.time())
        return {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"https://connect.stripe.com/setup/e/{account['id']}/{secrets.token_hex(8)}",
        }

    def _create_transfer(self, params: Obj) -> Obj:
        amount, currency = _amount(params), _currency(params)
        account = self._get("account", params.get("destination", ""), "destination")
        if account["capabilities"].get("transfers") != "active":
            raise invalid(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        transfer = self._new(
            "tr",
            "transfer",
            amount=amount,
            amount_reversed=0,
            currency=currency,
            destination=account["id"],
            destination_payment=f"py_{secrets.token_hex(12)}",
            metadata=dict(params.get("metadata") or {}),
            reversals={"object": "list", "data": [], "has_more": False, "total_count": 0},
            reversed=False,
            transfer_group=params.get("transfer_group"),
        )
        transfer["balance_transaction"] = self._balance(
            -amount, currency, "transfer", transfer["id"]
        )["id"]
        return transfer

    def _list_balance(self, params: Obj) -> Obj:
        limit = min(int(params.get("limit", 10)), 100)
        created = params.get("created") or {}
        rows = [t for t in reversed(self.balance) if _in_range(t["created"], created)]
        if "type" in params:
            rows = [t for t in rows if t["type"] == params["type"]]
        if after := params.get("starting_after"):
            ids = [t["id"] for t in rows]
            if after not in ids:
                raise invalid(f"No such balance transaction: '{after}'", param="starting_after")
            rows = rows[ids.index(after) + 1 :]
        return {
            "object": "list",
            "url": "/v1/balance_transactions",
            "has_more": len(rows) > limit,
            "data": rows[:limit],
        }


def _amount(params: Obj) -> int:
    value = params.get("amount", "")
    if not str(value).isdigit():
        raise invalid("Invalid positive integer", param="amount")
    return int(value)


def _currency(params: Obj) -> str:
    currency = str(params.get("currency", ""))
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise invalid(f"Invalid currency: {currency}.", param="currency")
    return currency


def _bools(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _bools(v) for k, v in node.items()}
    return {"true": True, "false": False}.get(node, node)


def _in_range(value: int, bounds: Obj | str) -> bool:
    if isinstance(bounds, str):  # created=<timestamp>
        return value == int(bounds)
    checks = {
        "gte": lambda b: value >= b,
        "gt": lambda b: value > b,
        "lte": lambda b: value <= b,
        "lt": lambda b: value < b,
    }
    return all(checks[op](int(bound)) for op, bound in bounds.items())


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.handle(self.command, self.path, body, headers)
            if answer is None:
                self.close_connection = True
                return
            status, payload = answer
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
            if key := headers.get("idempotency-key"):
                self.send_header("Idempotency-Key", key)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``fake.requests`` instead."""

    return Handler
