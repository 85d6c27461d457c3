"""Demo marketplace: profiles, open jobs, proposals and an active contract.

Built through the same services people use, so the demo obeys every rule.
Each step is safe to run twice (it looks for what it made before).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from marketplace.models import Category, Contract, Job, Proposal, Skill, User
from marketplace.services.jobs import create_job
from marketplace.services.profiles import update_profile
from marketplace.services.proposals import PlannedMilestone, submit_proposal

PROFILES: dict[str, dict[str, Any]] = {
    "freelancer@demo.smartpay.test": dict(
        headline="Django and payments engineer",
        bio="Ten years of Python; escrow, ledgers and Stripe integrations.",
        skills=["django", "postgresql-administration", "aws"],
        hourly_rate=9_500,
        country="DE",
        timezone="Europe/Berlin",
    ),
    "both@demo.smartpay.test": dict(
        headline="Full-stack developer who also hires",
        bio="React front ends on Django back ends.",
        skills=["react", "django", "typescript"],
        hourly_rate=7_000,
        country="GB",
        timezone="Europe/London",
    ),
    "ines@demo.smartpay.test": dict(
        headline="Product designer — UI, UX and brands",
        bio="Figma systems, accessible interfaces and brand identities.",
        skills=["ui-design", "figma", "brand-identity"],
        hourly_rate=6_500,
        country="FR",
        timezone="Europe/Paris",
    ),
    "omar@demo.smartpay.test": dict(
        headline="Smart contract developer and auditor",
        bio="Solidity, Foundry and audits of escrow and token contracts.",
        skills=["solidity", "smart-contract-audit", "foundry"],
        hourly_rate=15_000,
        country="AE",
        timezone="Asia/Dubai",
    ),
}

# (client, title, description, category slug, skill slugs, budget in minor units, currency)
JOBS = [
    (
        "client@demo.smartpay.test",
        "Build a Django escrow dashboard",
        "A dashboard showing milestones, escrow balances and payouts, with tests and docs.",
        "web-development",
        ["django", "react"],
        250_000,
        "usd",
    ),
    (
        "client@demo.smartpay.test",
        "Audit a milestone escrow contract",
        "Review a Solidity escrow with pull payments and arbiter splits; report findings.",
        "blockchain-web3",
        ["solidity", "smart-contract-audit"],
        2 * 10**18,
        "eth",
    ),
    (
        "client@demo.smartpay.test",
        "Design a logo and brand kit",
        "Logo, colours and type for a fintech start-up; deliver Figma and SVG files.",
        "design-creative",
        ["logo-design", "brand-identity"],
        80_000,
        "eur",
    ),
    (
        "client@demo.smartpay.test",
        "Write API documentation",
        "Document a REST API for third-party developers, with curl examples.",
        "writing-translation",
        ["technical-writing"],
        60_000,
        "usd",
    ),
    (
        "both@demo.smartpay.test",
        "Set up CI/CD on a Django project",
        "GitHub-style pipelines: lint, type checks, tests against PostgreSQL, deploy.",
        "devops-cloud",
        ["ci-cd", "docker"],
        120_000,
        "gbp",
    ),
]

PROPOSALS = [
    # (freelancer, job title, cover letter, [(title, amount)])
    (
        "freelancer@demo.smartpay.test",
        "Build a Django escrow dashboard",
        "I have built two escrow dashboards; here is a plan in two milestones.",
        [("Data model and API", 100_000), ("Dashboard pages and tests", 150_000)],
    ),
    (
        "ines@demo.smartpay.test",
        "Build a Django escrow dashboard",
        "I can design the dashboard and pair with a developer for the build.",
        [("Design", 90_000), ("Build with partner", 160_000)],
    ),
    (
        "omar@demo.smartpay.test",
        "Audit a milestone escrow contract",
        "Full audit in one week with a re-check of fixes.",
        [("Audit report", 15 * 10**17), ("Fix review", 5 * 10**17)],
    ),
    (
        "ines@demo.smartpay.test",
        "Design a logo and brand kit",
        "Three logo directions, then a full brand kit for the chosen one.",
        [("Logo directions", 30_000), ("Brand kit", 50_000)],
    ),
]

CONTRACT_JOB = "Build a Django escrow dashboard"
CONTRACT_FREELANCER = "freelancer@demo.smartpay.test"


def _user(email: str) -> User:
    return User.objects.get(email=email)


def make_profiles() -> None:
    for email, fields in PROFILES.items():
        update_profile(actor=_user(email), **fields)


def make_jobs() -> None:
    for client, title, description, category, skills, budget, currency in JOBS:
        if Job.objects.filter(title=title).exists():
            continue
        create_job(
            actor=_user(client),
            title=title,
            description=description,
            category=Category.objects.get(slug=category),
            skills=Skill.objects.filter(slug__in=skills),
            budget=budget,
            currency=currency,
            deadline=timezone.localdate() + datetime.timedelta(days=45),
            publish=True,
        )


def make_proposals() -> None:
    for email, title, letter, plan in PROPOSALS:
        job = Job.objects.get(title=title)
        if Proposal.objects.filter(job=job, freelancer__email=email).exists():
            continue
        submit_proposal(
            actor=_user(email),
            job_id=job.pk,
            cover_letter=letter,
            currency=job.currency,
            milestones=[PlannedMilestone(title=t, amount=a) for t, a in plan],
        )


def hire(job_title: str, freelancer_email: str) -> None:
    """The job's client offers the freelancer's proposal and the freelancer accepts."""
    from marketplace.services.contracts import accept_offer, offer_contract

    proposal = Proposal.objects.get(job__title=job_title, freelancer__email=freelancer_email)
    if Contract.objects.filter(proposal=proposal).exists():
        return
    contract = offer_contract(actor=proposal.job.client, proposal_id=proposal.pk)
    accept_offer(actor=proposal.freelancer, contract_id=contract.pk)


def make_active_contract() -> None:
    hire(CONTRACT_JOB, CONTRACT_FREELANCER)


def marketplace_steps() -> list[tuple[str, Callable[[], object]]]:
    return [
        ("freelancer profiles", make_profiles),
        ("open jobs", make_jobs),
        ("proposals", make_proposals),
        ("an active contract", make_active_contract),
    ]
