"""Marketplace data, one module per idea; import models from here."""

from marketplace.models.catalogue import Category, Skill
from marketplace.models.contracts import (
    Contract,
    ContractActivity,
    Milestone,
    MilestoneEvent,
    RevisionRequest,
    Submission,
    SubmissionFile,
)
from marketplace.models.jobs import Job, JobInvite, Proposal, ProposalMilestone
from marketplace.models.profiles import PortfolioItem, Profile
from marketplace.models.reviews import Review
from marketplace.models.users import (
    ARBITERS_GROUP,
    RESOLVE_PERMISSION,
    SiweNonce,
    User,
    UserManager,
    Wallet,
)

__all__ = [
    "ARBITERS_GROUP",
    "RESOLVE_PERMISSION",
    "Category",
    "Contract",
    "ContractActivity",
    "Job",
    "JobInvite",
    "Milestone",
    "MilestoneEvent",
    "PortfolioItem",
    "Profile",
    "Proposal",
    "ProposalMilestone",
    "Review",
    "RevisionRequest",
    "SiweNonce",
    "Skill",
    "Submission",
    "SubmissionFile",
    "User",
    "UserManager",
    "Wallet",
]
