"""Demo data for the embedded default. Later issues add their own steps here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from marketplace.models import ARBITERS_GROUP, User
from smartpay.demo_chain import chain_steps
from smartpay.demo_disputes import dispute_steps
from smartpay.demo_marketplace import marketplace_steps
from smartpay.demo_money import money_steps


@dataclass(frozen=True)
class DemoUser:
    email: str
    first_name: str
    last_name: str
    is_client: bool = False
    is_freelancer: bool = False
    is_staff: bool = False
    arbiter: bool = False


DEMO_USERS = [
    DemoUser("client@demo.smartpay.test", "Clara", "Client", is_client=True),
    DemoUser("freelancer@demo.smartpay.test", "Felix", "Freelancer", is_freelancer=True),
    DemoUser("both@demo.smartpay.test", "Bo", "Both", is_client=True, is_freelancer=True),
    DemoUser("arbiter@demo.smartpay.test", "Ada", "Arbiter", is_staff=True, arbiter=True),
    # A second arbiter: decisions above DISPUTE_SECOND_ARBITER_ABOVE need two.
    DemoUser("arbiter2@demo.smartpay.test", "Bruno", "Arbiter", is_staff=True, arbiter=True),
    DemoUser("ines@demo.smartpay.test", "Inès", "Designer", is_freelancer=True),
    DemoUser("omar@demo.smartpay.test", "Omar", "Solidity", is_freelancer=True),
]


def create_demo_user(spec: DemoUser) -> User:
    user, created = User.objects.get_or_create(
        email=spec.email,
        defaults={
            "first_name": spec.first_name,
            "last_name": spec.last_name,
            "is_client": spec.is_client,
            "is_freelancer": spec.is_freelancer,
            "is_staff": spec.is_staff,
        },
    )
    if created:
        user.set_password(settings.DEMO_PASSWORD)
        user.save(update_fields=["password"])
    # Demo addresses are verified already: money actions need a verified e-mail.
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    if spec.arbiter:
        user.groups.add(Group.objects.get(name=ARBITERS_GROUP))
        enable_demo_mfa(user)
    return user


def enable_demo_mfa(user: User) -> None:
    """Staff need TOTP for the admin; the secret is printed so a demo can add it."""
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
        RecoveryCodes.activate(user)


def demo_totp_url(email: str) -> str | None:
    """The otpauth:// URL of a demo user's authenticator, for an authenticator app."""
    totp = Authenticator.objects.filter(user__email=email, type=Authenticator.Type.TOTP).first()
    if totp is None:
        return None
    return get_mfa_adapter().build_totp_url(totp.user, decrypt(totp.data["secret"]))


def demo_steps() -> list[tuple[str, Callable[[], object]]]:
    """Named steps, run in order; each is safe to run twice."""
    users = [(f"user {spec.email}", partial(create_demo_user, spec)) for spec in DEMO_USERS]
    return users + marketplace_steps() + money_steps() + dispute_steps() + chain_steps()


def database_is_empty() -> bool:
    return not User.objects.exists()


def run_step(step: Callable[[], object]) -> None:
    """Each step in one transaction, unless it runs money services, which open
    their own durable transactions."""
    if getattr(step, "own_transactions", False):
        step()
        return
    with transaction.atomic():
        step()
