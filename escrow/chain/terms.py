"""The one rule for which on-chain escrow is a contract's, and which id it uses.

Anyone may call ``createEscrow`` with any id first. An escrow is the contract's only when
every term matches: the parties' linked wallets, the platform's arbiter and treasury, the
token, the milestone amounts (in ``ChainEscrow.milestone_ids`` order), the fee and the
review period. Funding (before it hands out ``createEscrow``) and chain sync (when it
sees ``EscrowCreated``) both ask ``term_problems``.

A squatted id is given up for ``contract pk + k·REKEY_STRIDE`` (k = ids given up so far):
contract pks stay below the stride, so ids never collide, and every id stays below 2**63,
which the embedded SQLite database holds exactly. Squatting again costs the squatter a
transaction each time and never moves money.
"""

from __future__ import annotations

from collections.abc import Sequence

from escrow.chain import node
from marketplace.models import Contract, Milestone, Wallet

REKEY_STRIDE = 10**12


def rekeyed_id(contract_pk: int, rejected_ids: Sequence[object]) -> int:
    """The id a contract's escrow uses after giving up ``rejected_ids``."""
    return contract_pk + len(rejected_ids) * REKEY_STRIDE


def term_problems(
    contract: Contract,
    milestone_ids: Sequence[int],
    *,
    client: str,
    freelancer: str,
    arbiter: str,
    treasury: str,
    token: str,
    amounts: Sequence[int],
    fee_bps: int,
    review_period: int,
) -> list[str]:
    """What in an on-chain escrow's terms differs from ``contract``, in words."""
    problems = []
    if not _is_wallet_of(client, contract.client_id):
        problems.append(f"client {client} is not a wallet of the client")
    if not _is_wallet_of(freelancer, contract.freelancer_id):
        problems.append(f"freelancer {freelancer} is not a wallet of the freelancer")
    expected = {
        "arbiter": (arbiter, node.arbiter_address()),
        "treasury": (treasury, node.treasury_address()),
        "token": (token, node.token_address(contract.currency)),
    }
    for name, (found, want) in expected.items():
        if found.lower() != want.lower():
            problems.append(f"{name} {found} is not {want}")
    planned = dict(Milestone.objects.filter(pk__in=milestone_ids).values_list("pk", "amount"))
    want_amounts = [int(planned[pk]) for pk in milestone_ids if pk in planned]
    if [int(a) for a in amounts] != want_amounts or len(want_amounts) != len(milestone_ids):
        problems.append(
            f"amounts {[str(a) for a in amounts]} are not {[str(a) for a in want_amounts]}"
        )
    if int(fee_bps) != contract.fee_bps:
        problems.append(f"fee {fee_bps} bps is not {contract.fee_bps} bps")
    if int(review_period) != node.review_period_seconds():
        problems.append(f"review period {review_period} s is not {node.review_period_seconds()} s")
    return problems


def _is_wallet_of(address: str, user_id: int) -> bool:
    return Wallet.objects.filter(user_id=user_id, address__iexact=address).exists()
