"""The fields the audit log keeps of each marketplace object, one list per model, so
every service snapshots the same before/after (``audit.snapshot(job, audited.JOB)``)."""

JOB = ("status", "title", "budget", "currency", "visibility", "deadline")
INVITE = ("job", "freelancer")
PROPOSAL = ("status", "job", "total", "currency")
CONTRACT = ("status", "rail", "currency", "fee_bps")
MILESTONE = ("status", "title", "amount", "due_date", "review_deadline")
SUBMISSION = ("milestone", "number", "digest")
PROFILE = ("headline", "hourly_rate", "currency", "country", "timezone", "avatar")
PORTFOLIO_ITEM = ("title", "link", "file")
REVIEW = ("contract", "subject", "rating", "published_at")
WALLET = ("address", "is_primary")
