"""Withdrawn: money left the escrow contract for a wallet, so it leaves our ledger too.

The contract pays an *address*; the ledger holds *users'* balances. The address is a
party's wallet on an accepted escrow (the wallet it was created with, even if since
unlinked), else a linked wallet, else the platform's treasury (the fees account).
Any other address is none of ours.
"""

from __future__ import annotations

from django.db.models import Q

from escrow import ledger
from escrow.chain import node
from escrow.chain.apply_common import Kind, Leg, arg_int, block_words, ignore, leg_keys, move_legs
from escrow.models import ChainEscrow, ChainLog, Transfer
from marketplace.models import User, Wallet
from marketplace.money import Rail, format_amount
from notifications.services import notify


def apply_withdrawn(log: ChainLog, escrow: ChainEscrow | None) -> None:
    """account's available (or fees) → external(chain); a shortfall (credits from an
    escrow that is not ours) first comes in from external so nothing goes negative."""
    account, amount = str(log.args["account"]), arg_int(log, "amount")
    currency = node.currency_of_token(str(log.args["token"]))
    if currency is None:
        ignore(log, f"Token {log.args['token']} is not a currency of the chain rail.")
        return
    user = None
    if account.lower() == node.treasury_address().lower():
        source = ledger.fee_account(currency)
    else:
        user = owner_of(account, log.chain_id)
        if user is None:
            ignore(log, f"{account} is not a wallet of a SmartPay party or the treasury.")
            return
        source = ledger.user_account(user, Kind.AVAILABLE, currency)
    external = ledger.external_account(Rail.CHAIN, currency)
    keys, _ = leg_keys(log, ["shortfall", "withdraw"])
    balance = int(ledger.lock_accounts(source, external)[source.pk].balance)
    if Transfer.objects.filter(idempotency_key=keys["withdraw"]).exists():
        # A replay: the first application decided the shortfall; repeat exactly that.
        first = Transfer.objects.filter(idempotency_key=keys["shortfall"]).first()
        shortfall = int(first.amount) if first is not None else 0
    else:
        shortfall = max(0, amount - balance)
    legs = [
        Leg("shortfall", external, source, shortfall, "Chain credit from outside SmartPay"),
        Leg("withdraw", source, external, amount, f"Withdrawn on chain to {log.args['to']}"),
    ]
    move_legs(log, legs, keys)
    if shortfall:
        log.note = (
            f"{format_amount(shortfall, currency)} of this withdrawal was credited by an "
            "escrow that is not ours; reconciliation reports it."
        )
    if user is not None:
        notify(
            user.pk,
            "chain_withdrawn",
            f"Withdrawn on chain: {format_amount(amount, currency)} {block_words(log)}",
            "/money/",
        )


def owner_of(address: str, chain_id: int) -> User | None:
    """The user behind ``address``: a party of an accepted escrow, else a linked wallet."""
    found = (
        ChainEscrow.objects.filter(chain_id=chain_id, status=ChainEscrow.Status.CREATED)
        .filter(Q(client_address=address) | Q(freelancer_address=address))
        .select_related("contract__client", "contract__freelancer")
        .order_by("-created_block", "-pk")
        .first()
    )
    if found is not None:
        contract = found.contract
        return contract.client if found.client_address == address else contract.freelancer
    wallet = Wallet.objects.filter(address=address).select_related("user").first()
    return wallet.user if wallet is not None else None
