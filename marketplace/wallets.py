"""Wallets and Sign-In with Ethereum (EIP-4361): services and selectors.

The server writes the whole message a wallet signs, so a client only asks for a
nonce, signs and sends the signature back. A valid signature either links the
address to the logged-in user or logs in the address's owner.
"""

from __future__ import annotations

import logging
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from allauth.account import app_settings as allauth_account_settings
from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth import login
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from eth_keys.exceptions import BadSignature
from eth_utils import is_address, to_checksum_address
from requests.exceptions import RequestException
from web3 import HTTPProvider
from web3.exceptions import Web3Exception

from marketplace.models import SiweNonce, User, Wallet
from marketplace.services import audited
from smartpay import audit
from smartpay.errors import Conflict, DomainError, NotAllowed, NotFoundError

with warnings.catch_warnings():
    # siwe's grammar redefines ABNF core rules on purpose and abnf warns about
    # each one at import: noise on every process start.
    warnings.filterwarnings("ignore", message=r"rule '[\w-]+' redefines")
    from siwe import (
        ExpiredMessage,
        InvalidSignature,
        ISO8601Datetime,
        NotYetValidMessage,
        SiweMessage,
        VerificationError,
    )

logger = logging.getLogger(__name__)

STATEMENT = "Sign in to SmartPay with this wallet."
LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"
RPC_TIMEOUT_SECONDS = 10


class SiweError(DomainError):
    """A Sign-In with Ethereum message or signature was refused."""

    code = "siwe_invalid_message"
    default_detail = "That is not a valid Sign-In with Ethereum message."


class ReauthenticationRequired(DomainError):
    status_code = 401
    code = "reauthentication_required"
    default_detail = "Confirm your password (log in again) before unlinking a wallet."


@dataclass(frozen=True)
class IssuedNonce:
    nonce: str
    message: str
    expires_at: datetime
    domain: str
    chain_id: int


@dataclass(frozen=True)
class SignInResult:
    """What a verified message did: linked ``wallet`` to ``user``, or logged ``user`` in."""

    wallet: Wallet
    user: User
    logged_in: bool
    created: bool


# --- selectors ---------------------------------------------------------------


def list_wallets(user: User) -> QuerySet[Wallet]:
    """The user's wallets, primary first, then oldest first."""
    return Wallet.objects.filter(user=user).order_by("-is_primary", "created_at", "pk")


def get_own_wallet(user: User, wallet_id: int) -> Wallet:
    """The user's wallet by id; someone else's wallet is simply not found."""
    wallet = Wallet.objects.filter(user=user, pk=wallet_id).first()
    if wallet is None:
        raise NotFoundError("No wallet with that id is linked to your account.")
    return wallet


def expected_domain(request: HttpRequest) -> str:
    """The RFC 3986 authority messages must name: ``SIWE_DOMAIN`` or the request's host."""
    return settings.SIWE_DOMAIN or request.get_host()


def has_recent_authentication(request: HttpRequest) -> bool:
    """True when this session logged in or reauthenticated through allauth lately.

    allauth records each login and reauthentication in the session; a wallet
    sign-in records none, so holding one key never suffices to unlink another.
    """
    user = request.user
    if not isinstance(user, User):
        return False
    records = get_authentication_records(request, user)
    timeout = allauth_account_settings.REAUTHENTICATION_TIMEOUT
    now = time.time()
    return any(now - float(record.get("at", 0)) < timeout for record in records)


# --- services ----------------------------------------------------------------


def checksum_address(address: str) -> str:
    """The EIP-55 spelling of ``address``; anything that is not an address is refused."""
    address = address.strip()
    if not is_address(address):
        raise DomainError(
            "That is not an Ethereum address (0x followed by 40 hex digits).",
            code="invalid_address",
        )
    return to_checksum_address(address)


def build_message(
    *,
    address: str,
    domain: str,
    uri: str,
    nonce: str,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    """The full EIP-4361 text for ``address`` to sign."""
    message = SiweMessage(
        domain=domain,
        address=checksum_address(address),
        statement=STATEMENT,
        uri=uri,
        version="1",
        chain_id=settings.CHAIN_ID,
        nonce=nonce,
        issued_at=ISO8601Datetime.from_datetime(issued_at),
        expiration_time=ISO8601Datetime.from_datetime(expires_at),
    )
    return message.prepare_message()


def issue_nonce(*, address: str, domain: str, uri: str) -> IssuedNonce:
    """Store a fresh single-use nonce and write the message for ``address`` around it."""
    address = checksum_address(address)
    issued_at = timezone.now()
    expires_at = issued_at + timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS)
    # Hex is alphanumeric, as EIP-4361 requires; 128 bits cannot be guessed.
    nonce = SiweNonce.objects.create(nonce=secrets.token_hex(16), expires_at=expires_at)
    message = build_message(
        address=address,
        domain=domain,
        uri=uri,
        nonce=nonce.nonce,
        issued_at=issued_at,
        expires_at=expires_at,
    )
    return IssuedNonce(
        nonce=nonce.nonce,
        message=message,
        expires_at=expires_at,
        domain=domain,
        chain_id=settings.CHAIN_ID,
    )


def verify_sign_in(request: HttpRequest, *, message: str, signature: str) -> SignInResult:
    """Check a signed EIP-4361 message, spend its nonce, then link or log in.

    Logged in: the address is linked to ``request.user`` (the first wallet
    becomes primary). Anonymous: the address's owner is logged in. The nonce is
    spent before linking, so a signed message works once whatever happens next.
    """
    parsed = check_signed_message(message, signature, domain=expected_domain(request))
    consume_nonce(parsed.nonce, address=parsed.address)
    actor = request.user
    if isinstance(actor, User):
        wallet, created = _link_address(actor, parsed.address)
        logger.info("wallet %s linked to user %s", wallet.address, actor.pk)
        return SignInResult(wallet=wallet, user=actor, logged_in=False, created=created)
    wallet = _wallet_to_sign_in(parsed.address)
    login(request, wallet.user, backend=LOGIN_BACKEND)
    logger.info("user %s signed in with wallet %s", wallet.user.pk, wallet.address)
    return SignInResult(wallet=wallet, user=wallet.user, logged_in=True, created=False)


def check_signed_message(message: str, signature: str, *, domain: str) -> SiweMessage:
    """Parse and verify ``message``; raise a ``SiweError`` with a code per failure.

    Reads only; the signature check may call the chain node (ERC-1271), so it
    runs outside any transaction.
    """
    try:
        parsed = SiweMessage.from_message(message)
    except ValueError:
        _refuse("siwe_invalid_message", "That is not a valid Sign-In with Ethereum message.")
    if parsed.domain != domain:
        _refuse("siwe_wrong_domain", f"The message must be for {domain}.", parsed)
    if parsed.chain_id != settings.CHAIN_ID:
        _refuse("siwe_wrong_chain", f"The message must be for chain {settings.CHAIN_ID}.", parsed)
    now = timezone.now()
    _check_time_window(parsed, now)
    if not _nonce_is_spendable(parsed.nonce, now):
        _refuse(
            "siwe_nonce_invalid",
            "That sign-in request is unknown, used or expired. Start again.",
            parsed,
        )
    _check_signature(parsed, signature, domain=domain, now=now)
    return parsed


def consume_nonce(nonce: str, *, address: str = "") -> None:
    """Spend ``nonce``: exactly one caller wins, even when many race for it."""
    now = timezone.now()
    with transaction.atomic():
        spent = SiweNonce.objects.filter(
            nonce=nonce, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
    if spent != 1:
        logger.info("siwe refused: siwe_nonce_invalid (lost race) address=%s", address)
        raise SiweError(
            "That sign-in request is unknown, used or expired. Start again.",
            code="siwe_nonce_invalid",
        )


def make_primary_wallet(*, actor: User, wallet_id: int) -> Wallet:
    """Make one of ``actor``'s wallets the primary one."""
    with transaction.atomic():
        # The user row serialises every change to this user's set of wallets.
        User.objects.select_for_update().get(pk=actor.pk)
        wallet = get_own_wallet(actor, wallet_id)
        if wallet.is_primary:
            return wallet
        # Clear the old primary first: the partial unique index allows only one.
        Wallet.objects.filter(user=actor, is_primary=True).update(is_primary=False)
        Wallet.objects.filter(pk=wallet.pk).update(is_primary=True)
        before = audit.snapshot(wallet, audited.WALLET)
        wallet.is_primary = True
        audit.record(
            actor,
            "wallet.made_primary",
            wallet,
            before=before,
            after=audit.snapshot(wallet, audited.WALLET),
        )
    logger.info("wallet %s is now primary for user %s", wallet.address, actor.pk)
    return wallet


def unlink_wallet(request: HttpRequest, *, wallet_id: int) -> Wallet:
    """Remove one of the logged-in user's wallets; needs a recent login.

    When the primary wallet goes, the oldest remaining one becomes primary.
    """
    actor = request.user
    if not isinstance(actor, User):
        raise NotAllowed("Log in to manage your wallets.", code="not_authenticated")
    get_own_wallet(actor, wallet_id)  # someone else's id is a 404, before anything else
    if not has_recent_authentication(request):
        raise ReauthenticationRequired()
    with transaction.atomic():
        User.objects.select_for_update().get(pk=actor.pk)
        wallet = get_own_wallet(actor, wallet_id)
        audit.record(
            actor, "wallet.unlinked", wallet, before=audit.snapshot(wallet, audited.WALLET)
        )
        wallet.delete()
        if wallet.is_primary:
            successor = list_wallets(actor).first()
            if successor is not None:
                Wallet.objects.filter(pk=successor.pk).update(is_primary=True)
    logger.info("wallet %s unlinked from user %s", wallet.address, actor.pk)
    return wallet


def purge_expired_nonces(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete nonces that expired more than ``older_than`` ago; returns how many."""
    deleted, _ = SiweNonce.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted


# --- helpers -----------------------------------------------------------------


def _refuse(code: str, detail: str, parsed: SiweMessage | None = None) -> NoReturn:
    # Never log the signature or the message: the address is enough to trace it.
    address = parsed.address if parsed is not None else "-"
    logger.info("siwe refused: %s address=%s", code, address)
    raise SiweError(detail, code=code)


def _check_time_window(parsed: SiweMessage, now: datetime) -> None:
    if parsed.expiration_time and now >= _parse_time(parsed.expiration_time):
        _refuse("siwe_expired", "The message has expired. Start again.", parsed)
    if parsed.not_before and now <= _parse_time(parsed.not_before):
        _refuse("siwe_not_yet_valid", "The message is not valid yet.", parsed)


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    # EIP-4361 times carry an offset; read a bare one as UTC rather than fail.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _nonce_is_spendable(nonce: str, now: datetime) -> bool:
    return SiweNonce.objects.filter(nonce=nonce, used_at__isnull=True, expires_at__gt=now).exists()


def _check_signature(parsed: SiweMessage, signature: str, *, domain: str, now: datetime) -> None:
    # A node lets contract wallets (ERC-1271) verify; without one only keys can sign.
    provider = (
        HTTPProvider(settings.CHAIN_RPC_URL, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS})
        if settings.CHAIN_RPC_URL
        else None
    )
    try:
        parsed.verify(
            signature, domain=domain, nonce=parsed.nonce, timestamp=now, provider=provider
        )
    except ExpiredMessage:
        _refuse("siwe_expired", "The message has expired. Start again.", parsed)
    except NotYetValidMessage:
        _refuse("siwe_not_yet_valid", "The message is not valid yet.", parsed)
    except (InvalidSignature, BadSignature, ValueError):
        _refuse("siwe_bad_signature", "The signature does not match the message's address.", parsed)
    except VerificationError:
        _refuse(
            "siwe_invalid_message", "That is not a valid Sign-In with Ethereum message.", parsed
        )
    except (RequestException, Web3Exception):
        logger.warning("siwe: chain node unreachable for ERC-1271 check", exc_info=True)
        raise DomainError(
            "The chain node could not be reached to check a contract wallet. Try again.",
            code="chain_unavailable",
        ) from None


def _link_address(actor: User, address: str) -> tuple[Wallet, bool]:
    """Link ``address`` to ``actor``; the first wallet becomes primary."""
    with transaction.atomic():
        User.objects.select_for_update().get(pk=actor.pk)
        existing = Wallet.objects.select_for_update().filter(address=address).first()
        if existing is None:
            is_primary = not Wallet.objects.filter(user=actor).exists()
            try:
                with transaction.atomic():  # savepoint: another user may link it right now
                    wallet = Wallet.objects.create(
                        user=actor, address=address, is_primary=is_primary
                    )
                audit.record(
                    actor, "wallet.linked", wallet, after=audit.snapshot(wallet, audited.WALLET)
                )
                return wallet, True
            except IntegrityError:
                existing = Wallet.objects.get(address=address)
    if existing.user_id != actor.pk:
        logger.info("siwe refused: wallet_linked_elsewhere address=%s", address)
        raise Conflict(
            "This wallet is linked to another SmartPay account. Unlink it there first.",
            code="wallet_linked_elsewhere",
        )
    return existing, False


def _wallet_to_sign_in(address: str) -> Wallet:
    wallet = Wallet.objects.select_related("user").filter(address=address).first()
    if wallet is None:
        logger.info("siwe refused: wallet_not_linked address=%s", address)
        raise NotFoundError(
            "No account uses this wallet yet. Sign in with your e-mail address, "
            "then link the wallet on your Wallets page.",
            code="wallet_not_linked",
        )
    if not wallet.user.is_active:
        logger.info("siwe refused: account_inactive address=%s", address)
        raise NotAllowed("This account is deactivated.", code="account_inactive")
    if is_mfa_enabled(wallet.user):
        # A wallet signature is one factor; it must not skip the account's second one.
        logger.info("siwe refused: mfa_required address=%s", address)
        raise NotAllowed(
            "This account uses two-factor authentication: log in with your e-mail "
            "address and authenticator code instead.",
            code="mfa_required",
        )
    return wallet
