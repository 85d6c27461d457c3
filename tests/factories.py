"""factory-boy factories shared by the suite."""

from typing import cast

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from marketplace.models import (
    Category,
    Contract,
    Job,
    Milestone,
    Proposal,
    ProposalMilestone,
    User,
)
from marketplace.money import CURRENCIES, Rail

PASSWORD = "correct-horse-battery-staple"
# Hashing once keeps user creation fast; tests that log in use PASSWORD.
PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_client = True
    is_freelancer = False
    password = PASSWORD_HASH


def make_user(**fields: object) -> User:
    """``UserFactory(...)`` typed as the model it returns."""
    return cast(User, UserFactory(**fields))


def verified_user(**fields: object) -> User:
    """A user whose primary e-mail address is verified, as after sign-up."""
    user = make_user(**fields)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


# --- marketplace ------------------------------------------------------------


def any_category() -> Category:
    """A category from the catalogue the data migration loads."""
    return Category.objects.order_by("pk").first() or Category.objects.create(
        name="Web Development", slug="web-development"
    )


def make_job(client: User | None = None, **fields: object) -> Job:
    """An open public job with a 2,500.00 USD budget."""
    client = client or make_user(is_client=True)
    defaults: dict[str, object] = {
        "title": "Build a Django escrow dashboard",
        "description": "A dashboard for milestone payments, with tests.",
        "category": any_category(),
        "budget": 250_000,
        "currency": "usd",
        "status": Job.Status.OPEN,
        "published_at": timezone.now(),
    }
    defaults.update(fields)
    return Job.objects.create(client=client, **defaults)


def make_proposal(
    job: Job | None = None,
    freelancer: User | None = None,
    amounts: tuple[int, ...] = (100_000, 150_000),
) -> Proposal:
    """A submitted proposal whose plan has one milestone per amount."""
    job = job or make_job()
    freelancer = freelancer or make_user(is_client=False, is_freelancer=True)
    proposal = Proposal.objects.create(
        job=job,
        freelancer=freelancer,
        cover_letter="I have built three of these.",
        currency=job.currency,
        total=sum(amounts),
    )
    for position, amount in enumerate(amounts, 1):
        ProposalMilestone.objects.create(
            proposal=proposal, position=position, title=f"Milestone {position}", amount=amount
        )
    return proposal


def make_contract(
    proposal: Proposal | None = None, status: str = Contract.Status.ACTIVE
) -> Contract:
    """A contract (active by default) with the proposal's milestones, all unfunded."""
    proposal = proposal or make_proposal()
    contract = Contract.objects.create(
        job=proposal.job,
        proposal=proposal,
        client=proposal.job.client,
        freelancer=proposal.freelancer,
        title=proposal.job.title,
        currency=proposal.currency,
        rail=Rail.CARD if CURRENCIES[proposal.currency].rail == Rail.CARD else Rail.CHAIN,
        fee_bps=1000,
        status=status,
        accepted_at=timezone.now() if status == Contract.Status.ACTIVE else None,
    )
    for planned in proposal.milestones.all():
        Milestone.objects.create(
            contract=contract,
            position=planned.position,
            title=planned.title,
            amount=planned.amount,
            due_date=planned.due_date,
        )
    return contract


def fund_for_test(milestone: Milestone) -> Milestone:
    """Put a draft milestone into FUNDED through the one transition function, as escrow will."""
    from django.db import transaction

    from marketplace import lifecycle

    with transaction.atomic():
        locked = Milestone.objects.select_for_update().get(pk=milestone.pk)
        lifecycle.transition_milestone(locked, Milestone.Status.FUNDED, actor=None, note="test")
    milestone.refresh_from_db()
    return milestone


# --- jobs and proposals -------------------------------------------------------


def verified_freelancer(**fields: object) -> User:
    """A freelancer (not a client) with a verified e-mail address, ready to propose."""
    return verified_user(**{"is_client": False, "is_freelancer": True, **fields})


# --- profiles and reviews -----------------------------------------------------

from marketplace.models import Profile, Skill  # noqa: E402 - appended section


def make_freelancer_profile(
    user: User | None = None, skills: tuple[str, ...] = (), **fields: object
) -> Profile:
    """A freelancer with a saved Profile; ``skills`` are slugs from the catalogue."""
    user = user or make_user(is_client=False, is_freelancer=True)
    profile, _ = Profile.objects.update_or_create(user=user, defaults=fields)
    if skills:
        profile.skills.set(Skill.objects.filter(slug__in=skills))
    return profile


def make_completed_contract(
    days_ago: float = 0, client: User | None = None, freelancer: User | None = None
) -> Contract:
    """A contract completed ``days_ago`` days ago between ``client`` and ``freelancer``."""
    from datetime import timedelta

    proposal = make_proposal(job=make_job(client) if client else None, freelancer=freelancer)
    contract = make_contract(proposal, status=Contract.Status.COMPLETED)
    contract.completed_at = timezone.now() - timedelta(days=days_ago)
    contract.save(update_fields=["completed_at"])
    return contract
