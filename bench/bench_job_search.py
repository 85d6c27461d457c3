"""Job search: 10,000 open public jobs, full-text search alone and with filters."""

from __future__ import annotations

from urllib.parse import urlencode

import harness
from harness import Case, Context

JOBS = 10_000

SEED = r"""
import random
import django
django.setup()
from django.utils import timezone
from datetime import timedelta
from marketplace.models import Category, Job, User

random.seed(7)
if Job.objects.filter(client__email="bench-client@example.test").exists():
    raise SystemExit(0)
client, _ = User.objects.get_or_create(
    email="bench-client@example.test", defaults={"is_client": True}
)
categories = list(Category.objects.order_by("pk"))
tech = ["Django", "React", "Vue", "Flutter", "Swift", "Kotlin", "Rust", "Go", "Node.js",
        "PostgreSQL", "Solidity", "Shopify", "WordPress", "Laravel", "Rails", "Figma",
        "TensorFlow", "Pandas", "AWS", "Kubernetes", "Stripe", "GraphQL", "Unity", "Blender"]
things = ["dashboard", "marketplace", "landing page", "mobile app", "REST API", "admin panel",
          "payment integration", "data pipeline", "chatbot", "smart contract", "browser extension",
          "analytics report", "booking system", "e-commerce store", "CRM", "logo", "video edit",
          "inventory tracker", "recommendation engine", "scraper", "invoice generator"]
verbs = ["Build", "Fix", "Redesign", "Migrate", "Optimise", "Extend", "Audit", "Prototype"]
extra = ["with charts", "for a startup", "for our clinic", "with tests", "with user accounts",
         "for a nonprofit", "with multi-language support", "with offline mode", "from scratch"]
sentences = [
    "We are a small team looking for an experienced freelancer.",
    "The project needs clean code, documentation and automated tests.",
    "You will work with our designer and our product manager.",
    "Our current system is slow and hard to maintain.",
    "Please describe similar work you have done.",
    "Milestones will be paid through escrow after review.",
    "Experience with continuous integration is a plus.",
    "The deadline is flexible for the right person.",
    "We expect weekly progress updates and a short demo.",
    "Accessibility and performance matter to our users.",
]
now = timezone.now()
jobs = []
for n in range(JOBS):
    stack = random.sample(tech, 2)
    thing = random.choice(things)
    title = f"{random.choice(verbs)} a {stack[0]} {thing} {random.choice(extra)}"
    body = " ".join(random.sample(sentences, 4))
    description = f"{body} Stack: {stack[0]} and {stack[1]}; the {thing} must scale. Job {n}."
    jobs.append(Job(
        client=client, title=title, description=description,
        category=random.choice(categories), budget=random.randrange(5_000, 2_000_000, 500),
        currency="usd" if n % 5 else "eur", status=Job.Status.OPEN,
        visibility=Job.Visibility.PUBLIC,
        published_at=now - timedelta(minutes=random.randrange(0, 60 * 24 * 60)),
    ))
Job.objects.bulk_create(jobs, batch_size=2000)
""".replace("JOBS", str(JOBS))


def setup(env: dict[str, str]) -> None:
    harness.python(env, SEED)
    if env.get("DATABASE_URL", "").startswith("postgres"):
        harness.python(
            env,
            "import django; django.setup()\n"
            "from django.db import connection\n"
            "connection.cursor().execute('ANALYZE marketplace_job')\n",
        )


def cases(ctx: Context) -> list[Case]:
    slug = harness.python(
        ctx.env,
        "import django; django.setup()\n"
        "from marketplace.models import Category\n"
        "print(Category.objects.get(name='Web Development').slug)\n",
    )
    search = urlencode({"q": "django dashboard"})
    filtered = urlencode(
        {
            "q": "django dashboard",
            "category": slug,
            "budget_min": 100_000,
            "budget_max": 1_500_000,
            "currency": "usd",
        }
    )
    return [
        Case(
            "jobs: q=django dashboard",
            f"/api/v1/jobs/?{search}",
            cookies=ctx.user_cookies,
            requests=1000,
        ),
        Case(
            "jobs: q + category + budget",
            f"/api/v1/jobs/?{filtered}",
            cookies=ctx.user_cookies,
            requests=1000,
        ),
    ]
