"""Test helpers for chain sync (no tests here): open escrows on the test chain the way
a client's wallet would, compare the ledger with the contract's view functions, and a
small real JSON-RPC proxy that fails the way hosted nodes fail.

``assert_ledger_matches_chain`` is the promise of issue 6: after a sync, whatever
happened on the node (reorgs, restarts, duplicates), the ledger equals the chain.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from escrow.chain import node
from escrow.chain.reconcile import HELD_ON_CHAIN, OURS
from escrow.models import ChainEscrow, LedgerAccount
from marketplace.models import Contract, Milestone, User
from tests.chain.conftest import STATUS
from tests.chain.rail import ChainRail
from tests.factories import make_contract, make_job, make_proposal

Kind = LedgerAccount.Kind
Tamper = Callable[[list[dict[str, Any]], int, int], list[dict[str, Any]]]
# On-chain milestone status -> ours: the mapping reconciliation uses.
MILESTONE_STATUS = OURS


@dataclass
class OpenEscrow:
    """A chain contract whose escrow the client's wallet created on chain."""

    contract: Contract
    escrow: ChainEscrow

    @property
    def onchain_id(self) -> int:
        return int(self.escrow.onchain_id)

    def milestone(self, index: int) -> Milestone:
        return Milestone.objects.get(pk=self.escrow.milestone_ids[index])


def another_contract(
    client: User, freelancer: User, currency: str = "eth", amounts: tuple[int, ...] = (10**15,)
) -> Contract:
    """One more active chain contract between the same two parties (whose wallets are
    already linked: a wallet belongs to one user)."""
    job = make_job(client, currency=currency, budget=sum(amounts))
    return make_contract(make_proposal(job, freelancer, amounts=amounts))


def open_escrow(
    rail: ChainRail, contract: Contract | None = None, currency: str = "eth"
) -> OpenEscrow:
    """Record the contract's waiting ``ChainEscrow`` and create the escrow on chain with
    the contract's terms from the client's wallet (anvil account 1)."""
    contract = contract or rail.contract(currency=currency)
    milestones = list(contract.milestones.order_by("position"))
    escrow = ChainEscrow.objects.create(
        contract=contract,
        chain_id=31337,
        onchain_id=contract.pk,
        token=node.token_address(contract.currency),
        milestone_ids=[m.pk for m in milestones],
    )
    rail.chain.create(
        [int(m.amount) for m in milestones],
        token=node.token_address(contract.currency),
        fee_bps=contract.fee_bps,
        review_period=node.review_period_seconds(),
        contract_id=contract.pk,
    )
    return OpenEscrow(contract, escrow)


def spread_events(rail: ChainRail, escrows: int = 3) -> list[int]:
    """Escrows created and funded across many blocks; returns their on-chain ids."""
    first = open_escrow(rail)
    ids = [first.onchain_id]
    for _ in range(escrows - 1):
        contract = another_contract(first.contract.client, first.contract.freelancer)
        ids.append(open_escrow(rail, contract).onchain_id)
        rail.mine(2)
    for onchain_id in ids:
        rail.chain.fund(onchain_id, 0)
        rail.mine(1)
    return ids


def _balance(**lookup: Any) -> int:
    account = LedgerAccount.objects.filter(**lookup).first()
    return 0 if account is None else int(account.balance)


def ledger_disagreements(rail: ChainRail) -> list[str]:
    """Every way the ledger differs from the contract, in words (empty: they agree)."""
    problems: list[str] = []
    escrow_contract = rail.escrow.functions
    addresses: dict[tuple[int, str], set[str]] = defaultdict(set)  # (user, currency) -> wallets
    currencies: set[str] = set()
    for escrow in ChainEscrow.objects.filter(status=ChainEscrow.Status.CREATED).select_related(
        "contract"
    ):
        contract = escrow.contract
        currencies.add(contract.currency)
        addresses[(contract.client_id, contract.currency)].add(escrow.client_address)
        addresses[(contract.freelancer_id, contract.currency)].add(escrow.freelancer_address)
        onchain = escrow_contract.getMilestones(int(escrow.onchain_id)).call()
        for index, pk in enumerate(escrow.milestone_ids):
            amount, status_code = onchain[index][0], onchain[index][1]
            status = STATUS[status_code]
            milestone = Milestone.objects.get(pk=pk)
            if milestone.status != MILESTONE_STATUS[status]:
                problems.append(
                    f"milestone {pk} (escrow {escrow.onchain_id}[{index}]) is "
                    f"{milestone.status} but {status} on chain"
                )
            held = _balance(milestone=milestone, kind=Kind.ESCROW)
            expected = amount if status in HELD_ON_CHAIN else 0
            if held != expected:
                problems.append(f"milestone {pk} escrow holds {held}, chain says {expected}")
    for waiting in ChainEscrow.objects.exclude(status=ChainEscrow.Status.CREATED):
        for pk in waiting.milestone_ids:
            milestone = Milestone.objects.get(pk=pk)
            held = _balance(milestone=milestone, kind=Kind.ESCROW)
            if milestone.status != Milestone.Status.DRAFT or held:
                problems.append(
                    f"milestone {pk} of escrow {waiting.onchain_id}, not created on chain, is "
                    f"{milestone.status} holding {held}"
                )
    for (user_id, currency), wallets in sorted(addresses.items()):
        token = node.token_address(currency)
        on_chain = sum(int(escrow_contract.credits(token, w).call()) for w in wallets)
        ours = _balance(owner_id=user_id, kind=Kind.AVAILABLE, currency=currency)
        if ours != on_chain:
            problems.append(
                f"user {user_id} has {ours} {currency} available, chain credits {on_chain}"
            )
    for currency in sorted(currencies):
        token = node.token_address(currency)
        on_chain = int(escrow_contract.credits(token, node.treasury_address()).call())
        ours = _balance(kind=Kind.FEES, currency=currency)
        if ours != on_chain:
            problems.append(f"fees hold {ours} {currency}, treasury credits {on_chain}")
    return problems


def assert_ledger_matches_chain(rail: ChainRail) -> None:
    """Milestone statuses, escrow balances, users' available balances and the fees
    account equal what the contract says, to the wei."""
    problems = ledger_disagreements(rail)
    assert not problems, "\n".join(problems)


class RpcProxy:
    """A JSON-RPC server that forwards to anvil, refuses ``eth_getLogs`` over more than
    ``max_range`` blocks the way hosted providers do, and may ``tamper`` with logs."""

    def __init__(
        self,
        upstream: str,
        *,
        max_range: int | None = None,
        error: dict[str, Any] | None = None,
        tamper: Tamper | None = None,
        before_logs: Callable[[], None] | None = None,
    ) -> None:
        self.upstream = upstream
        self.max_range = max_range
        self.error = error or {"code": -32005, "message": "query exceeds max block range"}
        self.tamper = tamper
        self.before_logs = before_logs
        self.served: list[tuple[int, int]] = []
        self.refused: list[tuple[int, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = (
                    [proxy.answer(r) for r in body]
                    if isinstance(body, list)
                    else (proxy.answer(body))
                )
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["method"] != "eth_getLogs":
            return dict(requests.post(self.upstream, json=request, timeout=10).json())
        query = request["params"][0]
        low, high = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        if self.max_range is not None and high - low + 1 > self.max_range:
            self.refused.append((low, high))
            return {"jsonrpc": "2.0", "id": request["id"], "error": self.error}
        self.served.append((low, high))
        if self.before_logs is not None:
            self.before_logs()
        response = dict(requests.post(self.upstream, json=request, timeout=10).json())
        if self.tamper is not None and "result" in response:
            response["result"] = self.tamper(response["result"], low, high)
        return response

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
