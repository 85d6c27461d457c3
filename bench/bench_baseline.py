"""The baseline: a bare DRF endpoint, and /api/v1/me/ (session auth + one user read)."""

from harness import Case, Context


def cases(ctx: Context) -> list[Case]:
    return [
        Case("ping (bare DRF, baseline)", "/api/v1/ping/"),
        Case("me (session auth)", "/api/v1/me/", cookies=ctx.user_cookies),
    ]
