"""Who wants what, where: a user's choice per kind of event (verb) and channel.

No row means the default: in the app, every verb is on; by e-mail, the verbs that have an
e-mail template (``notifications.emails.EMAIL_VERBS``) are on. A row records a change
from the default, so a new verb or template reaches people who never touched it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from notifications.models import Channel, NotificationPreference
from smartpay.errors import DomainError

# The kinds of event people can choose about, in the order the settings page lists them.
# Verbs not listed here still notify with the defaults; they just have no row to change.
VERBS: dict[str, str] = {
    "proposal_submitted": "A proposal arrives on your job",
    "proposal_updated": "A proposal on your job is edited",
    "proposal_shortlisted": "Your proposal is shortlisted",
    "proposal_declined": "Your proposal is declined",
    "job_invite": "You are invited to propose on a job",
    "offer_sent": "You receive an offer",
    "offer_accepted": "Your offer is accepted",
    "offer_declined": "Your offer is declined",
    "offer_withdrawn": "An offer to you is withdrawn",
    "milestone_funded": "A milestone is funded",
    "milestone_submitted": "Work is submitted for your approval",
    "revision_requested": "A revision is requested",
    "approval_reminder": "Reminder: work awaits your approval",
    "payment_released": "A payment is released",
    "payment_failed": "A card payment fails",
    "funds_available": "Money becomes available to pay out",
    "payout": "A payout is sent, fails or is reversed",
    "payout_sent": "A payout is sent",
    "payout_failed": "A payout fails",
    "refund_requested": "A refund is requested",
    "refund_declined": "A refund request is declined",
    "milestone_refunded": "A milestone is refunded",
    "refund_failed": "A card refund fails",
    "milestone_released": "A milestone's payment is released",
    "contract_completed": "A contract is complete",
    "review": "A review is left",
    "milestone_disputed": "A milestone is disputed",
    "dispute_opened": "A dispute is opened",
    "dispute_reminder": "A dispute response is due",
    "dispute_escalated": "A dispute goes to an arbiter",
    "dispute_assigned": "A dispute is assigned to you",
    "dispute_decided": "An arbiter decides a dispute",
    "dispute_resolved": "A dispute is resolved",
    "dispute_appealed": "A decision is appealed",
    "new_message": "New messages while you are away",
}

CHANNELS: tuple[str, ...] = (Channel.IN_APP, Channel.EMAIL)


def email_verbs() -> dict[str, str]:
    # Imported late: the e-mail module imports the models, and this module is imported
    # by code that runs while the app registry is still loading.
    from notifications.emails import EMAIL_VERBS

    return EMAIL_VERBS


def listed_verbs() -> dict[str, str]:
    """The verbs people can choose about: the listed ones, and any verb with an e-mail
    (so every mail can be turned off, even one added after this list)."""
    extra = {
        verb: verb.replace("_", " ").capitalize() for verb in email_verbs() if verb not in VERBS
    }
    return {**VERBS, **extra}


def default(verb: str, channel: str) -> bool:
    """The choice of someone who never changed it."""
    if channel == Channel.IN_APP:
        return True
    return verb in email_verbs()


def wants(user_id: int, verb: str, channel: str) -> bool:
    """Does this user want ``verb`` events on ``channel``? One query."""
    enabled = (
        NotificationPreference.objects.filter(user_id=user_id, verb=verb, channel=channel)
        .values_list("enabled", flat=True)
        .first()
    )
    return default(verb, channel) if enabled is None else bool(enabled)


def wanted_channels(user_id: int, verb: str) -> set[str]:
    """The channels this user wants ``verb`` on, read in one query."""
    chosen = dict(
        NotificationPreference.objects.filter(user_id=user_id, verb=verb).values_list(
            "channel", "enabled"
        )
    )
    return {
        channel
        for channel in CHANNELS
        if (chosen[channel] if channel in chosen else default(verb, channel))
    }


@dataclass(frozen=True)
class Choice:
    verb: str
    label: str
    channel: str
    enabled: bool
    # False when the verb has no e-mail template: switching it on would send nothing.
    available: bool


def matrix(user_id: int) -> list[list[Choice]]:
    """Every listed verb, one row each, one cell per channel, with the user's choice."""
    chosen = {
        (verb, channel): enabled
        for verb, channel, enabled in NotificationPreference.objects.filter(
            user_id=user_id
        ).values_list("verb", "channel", "enabled")
    }
    mailed = email_verbs()
    rows = []
    for verb, label in listed_verbs().items():
        row = []
        for channel in CHANNELS:
            available = channel == Channel.IN_APP or verb in mailed
            enabled = chosen.get((verb, channel), default(verb, channel))
            row.append(Choice(verb, label, channel, bool(enabled) and available, available))
        rows.append(row)
    return rows


def as_dict(user_id: int) -> dict[str, dict[str, bool]]:
    """``{verb: {channel: enabled}}`` for every listed verb (the API's shape)."""
    return {row[0].verb: {cell.channel: cell.enabled for cell in row} for row in matrix(user_id)}


class UnknownPreference(DomainError):
    code = "unknown_preference"
    default_detail = "No such kind of notification or channel."


def set_preferences(*, user_id: int, choices: dict[str, dict[str, bool]]) -> None:
    """Record ``{verb: {channel: enabled}}``; verbs and channels left out keep their value.

    A choice equal to the default is stored too: the user made it, and a later change of
    the default should not overturn it.
    """
    listed = listed_verbs()
    for verb, channels in choices.items():
        if verb not in listed or not isinstance(channels, dict):
            raise UnknownPreference(f"“{verb}” is not a kind of notification you can choose.")
        for channel, enabled in channels.items():
            if channel not in CHANNELS or not isinstance(enabled, bool):
                raise UnknownPreference(
                    f"“{verb}”: give in_app and email as true or false (got “{channel}”)."
                )
    with transaction.atomic():
        for verb, channels in choices.items():
            for channel, enabled in channels.items():
                NotificationPreference.objects.update_or_create(
                    user_id=user_id, verb=verb, channel=channel, defaults={"enabled": enabled}
                )
