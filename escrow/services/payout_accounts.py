"""Freelancers' connected accounts (Stripe Connect Express, or the sandbox's):
create once, onboard through the provider's link, keep our copy in step with
``account.updated``, and the weekly automatic payout setting."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from escrow.errors import ProviderUnavailable
from escrow.models import PayoutAccount
from escrow.rails import AccountInfo, RailError, card_provider
from escrow.services import audited
from marketplace.models import User
from marketplace.permissions import has_verified_email
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, NotAllowed


def connect_payout_account(*, actor: User, return_url: str, refresh_url: str) -> str:
    """Create (once) the freelancer's connected account; return its onboarding URL."""
    if not actor.is_freelancer:
        raise NotAllowed("Only freelancers receive payouts.", code="not_freelancer")
    if not has_verified_email(actor):
        raise NotAllowed("Verify your e-mail address before moving money.", code="email_unverified")
    provider = card_provider()
    account = PayoutAccount.objects.filter(user=actor).first()
    try:
        if account is None:
            info = provider.create_connected_account(
                email=actor.email,
                country=settings.STRIPE_CONNECT_COUNTRY,
                metadata={"user_id": str(actor.pk)},
                idempotency_key=f"account-{actor.pk}",
            )
            account = _store_account(actor, provider.name, info)
        return provider.create_account_link(
            account_id=account.account_id, refresh_url=refresh_url, return_url=return_url
        )
    except RailError as error:
        raise ProviderUnavailable(error.message) from error


def _store_account(user: User, provider_name: str, info: AccountInfo) -> PayoutAccount:
    """Race-safe: two clicks share one provider account through the idempotency key,
    and the unique user column lets only one row in."""
    try:
        with transaction.atomic():
            account = PayoutAccount.objects.create(
                user=user, provider=provider_name, account_id=info.id, **_account_state(info)
            )
            audit.record(
                user,
                "payout_account.connected",
                account,
                after=audit.snapshot(account, audited.PAYOUT_ACCOUNT),
            )
            return account
    except IntegrityError:
        return PayoutAccount.objects.get(user=user)


def _account_state(info: AccountInfo) -> dict[str, object]:
    if info.payouts_enabled:
        status = PayoutAccount.Status.ENABLED
    elif info.details_submitted:
        status = PayoutAccount.Status.RESTRICTED
    else:
        status = PayoutAccount.Status.ONBOARDING
    return {
        "status": status,
        "payouts_enabled": info.payouts_enabled,
        "requirements_due": list(info.requirements_due),
    }


def sync_payout_account(
    *, account_id: str, info: AccountInfo | None = None
) -> PayoutAccount | None:
    """Bring our copy of a connected account up to date (``account.updated`` or the
    onboarding return page, which passes no ``info`` and asks the provider)."""
    if not PayoutAccount.objects.filter(account_id=account_id).exists():
        return None
    if info is None:
        try:
            info = card_provider().retrieve_account(account_id)
        except RailError as error:
            raise ProviderUnavailable(error.message) from error
    with transaction.atomic(durable=True):
        account = PayoutAccount.objects.select_for_update().get(account_id=account_id)
        was_enabled = account.payouts_enabled
        before = audit.snapshot(account, audited.PAYOUT_ACCOUNT)
        for name, value in _account_state(info).items():
            setattr(account, name, value)
        account.save(update_fields=["status", "payouts_enabled", "requirements_due", "updated_at"])
        after = audit.snapshot(account, audited.PAYOUT_ACCOUNT)
        if after != before:
            audit.record(None, "payout_account.updated", account, before=before, after=after)
        if account.payouts_enabled and not was_enabled:
            notify(account.user_id, "payouts", "Payouts are enabled", reverse("money"))
    return account


def set_auto_payout(*, actor: User, enabled: bool) -> PayoutAccount:
    """Turn the weekly automatic payout of the whole available balance on or off."""
    with transaction.atomic(durable=True):
        account = PayoutAccount.objects.select_for_update().filter(user=actor).first()
        if account is None:
            raise Conflict("Connect a payout account first.", code="no_payout_account")
        if account.auto_payout_weekly != enabled:
            before = audit.snapshot(account, audited.PAYOUT_ACCOUNT)
            account.auto_payout_weekly = enabled
            account.save(update_fields=["auto_payout_weekly", "updated_at"])
            audit.record(
                actor,
                "payout_account.auto_payout_set",
                account,
                before=before,
                after=audit.snapshot(account, audited.PAYOUT_ACCOUNT),
            )
    return account
