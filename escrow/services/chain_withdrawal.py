"""Chain rail: withdrawing what the escrow contract credited to a user (pull payments).

Releases, refunds and resolutions credit balances inside the escrow contract; each
address then withdraws its own credit with ``withdraw``. A user may hold credits at
several addresses (a wallet unlinked since still holds what it earned), so the
withdrawal is one transaction per address that holds something.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from web3 import Web3

from escrow.chain import node
from escrow.chain import transactions as txs
from escrow.chain.transactions import UnsignedTransaction
from escrow.models import ChainEscrow
from escrow.services import chain_checks as check
from marketplace.models import User
from marketplace.money import CURRENCIES, Rail, format_amount
from smartpay.errors import Conflict, DomainError


@dataclass(frozen=True)
class Credit:
    address: str
    amount: int
    currency: str

    @property
    def amount_display(self) -> str:
        return format_amount(self.amount, self.currency)


def _chain_currency(currency: str) -> str:
    spec = CURRENCIES.get(currency)
    if spec is None or spec.rail != Rail.CHAIN:
        chain = ", ".join(code for code, c in CURRENCIES.items() if c.rail == Rail.CHAIN)
        raise DomainError(f"Withdraw one of: {chain}.", code="wrong_rail")
    return currency


def escrow_addresses(user: User) -> list[str]:
    """Every address that may hold the user's credits: linked wallets and the addresses
    their escrows name (a wallet unlinked since still holds what it earned)."""
    addresses = check.linked_wallets(user)
    named = ChainEscrow.objects.filter(chain_id=settings.CHAIN_ID).filter(
        Q(contract__client=user) | Q(contract__freelancer=user)
    )
    for client_id, client, freelancer in named.values_list(
        "contract__client_id", "client_address", "freelancer_address"
    ):
        address = client if client_id == user.pk else freelancer
        if address and Web3.to_checksum_address(address) not in addresses:
            addresses.append(Web3.to_checksum_address(address))
    return addresses


def withdrawable(user: User, currency: str) -> list[Credit]:
    """The user's credits in the escrow contract, per address (reads the node)."""
    token = node.token_address(_chain_currency(currency))
    contract = check.escrow_on_node()

    def credit_of(address: str) -> int:
        return int(check.node_call(lambda: contract.functions.credits(token, address).call()))

    credits = []
    for address in escrow_addresses(user):
        amount = credit_of(address)
        if amount > 0:
            credits.append(Credit(address, amount, currency))
    return credits


def prepare_withdrawal(
    *,
    actor: User,
    currency: str,
    to: str | None = None,
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """One ``withdraw`` per address of the user's that holds a credit, paying it to that
    address or to ``to``."""
    _chain_currency(currency)
    check.check_chain_id(chain_id)
    destination = check.checksummed(to, "`to` address") if to else None
    if destination == node.ETH_ADDRESS:
        raise DomainError(
            "Withdraw to a real address, not the zero address.", code="invalid_address"
        )
    addresses = escrow_addresses(actor)
    if not addresses:
        raise Conflict(
            f"You have no wallet on the chain rail: {check.wallet_link_hint()}.",
            code="wallet_required",
        )
    check.check_sender(sender, addresses, "it is not one of your wallets.")
    credits = [
        credit
        for credit in withdrawable(actor, currency)
        if not sender or credit.address == Web3.to_checksum_address(sender)
    ]
    if not credits:
        raise Conflict(
            f"Nothing to withdraw: the escrow contract holds no {currency.upper()} for you.",
            code="nothing_to_withdraw",
        )
    token = node.token_address(currency)
    escrow_address = node.deployment().address
    return [
        txs.withdraw(
            escrow_address,
            token=token,
            to=destination or credit.address,
            chain_id=settings.CHAIN_ID,
            sender=credit.address,
            description=(
                f"Withdraw {credit.amount_display} credited to {credit.address} "
                f"to {destination or credit.address}."
            ),
        )
        for credit in credits
    ]
