"""Jobs, invitations and proposals API: thin views over services and selectors."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api_profiles import CategorySerializer
from marketplace.models import Category, Job, JobInvite, Proposal, ProposalMilestone, Skill, User
from marketplace.money import CURRENCY_CHOICES, format_amount
from marketplace.permissions import acting_user
from marketplace.selectors import jobs as job_selectors
from marketplace.selectors import proposals as proposal_selectors
from marketplace.selectors.jobs import ORDERINGS, JobFilters
from marketplace.services import jobs as job_services
from marketplace.services import proposals as proposal_services
from marketplace.services.proposals import PlannedMilestone
from smartpay.api.fields import ChoiceLabelField

# --- serializers ----------------------------------------------------------


class SkillRefSerializer(serializers.ModelSerializer[Skill]):
    class Meta:
        model = Skill
        fields = ["id", "slug", "name"]
        read_only_fields = fields


class PersonSerializer(serializers.ModelSerializer[User]):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "display_name"]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class MinorUnitsField(serializers.IntegerField):
    """Whole minor units (cents, wei), rendered as a JSON integer."""

    def to_representation(self, value: Any) -> int:
        return int(value)


class JobSerializer(serializers.ModelSerializer[Job]):
    category = CategorySerializer(read_only=True)
    skills = SkillRefSerializer(many=True, read_only=True)
    client = PersonSerializer(read_only=True)
    budget = MinorUnitsField(read_only=True, help_text="Minor units of `currency`.")
    budget_display = serializers.SerializerMethodField()
    status_display = ChoiceLabelField("status")
    visibility_display = ChoiceLabelField("visibility")
    proposal_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Job
        fields = [
            "id",
            "title",
            "description",
            "category",
            "skills",
            "budget",
            "currency",
            "budget_display",
            "deadline",
            "visibility",
            "visibility_display",
            "status",
            "status_display",
            "client",
            "proposal_count",
            "created_at",
            "published_at",
        ]
        read_only_fields = fields

    def get_budget_display(self, job: Job) -> str:
        return format_amount(job.budget, job.currency)


class JobWriteSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=20_000)
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all())
    skills = serializers.SlugRelatedField(
        slug_field="slug", queryset=Skill.objects.all(), many=True, required=False
    )
    budget = serializers.IntegerField(help_text="Fixed budget in minor units; more than zero.")
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    deadline = serializers.DateField(required=False, allow_null=True)
    visibility = serializers.ChoiceField(choices=Job.Visibility.choices, required=False)


class JobCreateSerializer(JobWriteSerializer):
    publish = serializers.BooleanField(
        default=False, help_text="Open the job for proposals at once instead of saving a draft."
    )


class JobFilterSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    category = serializers.SlugField(required=False, allow_blank=True)
    skills = serializers.CharField(
        required=False, allow_blank=True, help_text="Comma-separated skill slugs (any of them)."
    )
    budget_min = serializers.IntegerField(required=False, min_value=0)
    budget_max = serializers.IntegerField(required=False, min_value=0)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False)
    posted_within = serializers.IntegerField(required=False, min_value=1, max_value=3650)
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False)
    mine = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("budget_min"), attrs.get("budget_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"budget_max": "budget_max must not be below budget_min."}
            )
        return attrs

    def filters(self) -> JobFilters:
        data = self.validated_data
        skills = tuple(s.strip() for s in data.get("skills", "").split(",") if s.strip())
        return JobFilters(
            q=data.get("q", ""),
            category=data.get("category", ""),
            skills=skills,
            budget_min=data.get("budget_min"),
            budget_max=data.get("budget_max"),
            currency=data.get("currency", ""),
            posted_within=data.get("posted_within"),
            ordering=data.get("ordering", ""),
            mine=data.get("mine", False),
        )


class JobInviteSerializer(serializers.ModelSerializer[JobInvite]):
    freelancer = PersonSerializer(read_only=True)

    class Meta:
        model = JobInvite
        fields = ["id", "job", "freelancer", "message", "created_at"]
        read_only_fields = fields


class JobInviteCreateSerializer(serializers.Serializer[Any]):
    freelancer = serializers.IntegerField(help_text="The freelancer's user id.")
    message = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ProposalMilestoneSerializer(serializers.ModelSerializer[ProposalMilestone]):
    amount = MinorUnitsField(read_only=True)
    amount_display = serializers.SerializerMethodField()

    class Meta:
        model = ProposalMilestone
        fields = ["position", "title", "amount", "amount_display", "due_date"]
        read_only_fields = fields

    def get_amount_display(self, milestone: ProposalMilestone) -> str:
        return format_amount(milestone.amount, milestone.proposal.currency)


class JobRefSerializer(serializers.ModelSerializer[Job]):
    class Meta:
        model = Job
        fields = ["id", "title"]
        read_only_fields = fields


class ProposalSerializer(serializers.ModelSerializer[Proposal]):
    job = JobRefSerializer(read_only=True)
    freelancer = PersonSerializer(read_only=True)
    total = MinorUnitsField(read_only=True)
    total_display = serializers.SerializerMethodField()
    status_display = ChoiceLabelField("status")
    milestones = ProposalMilestoneSerializer(many=True, read_only=True)

    class Meta:
        model = Proposal
        fields = [
            "id",
            "job",
            "freelancer",
            "cover_letter",
            "currency",
            "total",
            "total_display",
            "status",
            "status_display",
            "milestones",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_total_display(self, proposal: Proposal) -> str:
        return format_amount(proposal.total, proposal.currency)


class PlannedMilestoneSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=200)
    amount = serializers.IntegerField(help_text="Minor units; more than zero.")
    due_date = serializers.DateField(required=False, allow_null=True)


class ProposalWriteSerializer(serializers.Serializer[Any]):
    cover_letter = serializers.CharField(max_length=20_000)
    currency = serializers.ChoiceField(
        choices=CURRENCY_CHOICES, help_text="Must be the job's currency."
    )
    milestones = PlannedMilestoneSerializer(many=True, help_text="1 to 20 milestones.")
    total = serializers.IntegerField(
        required=False,
        help_text="Optional check: if sent, it must equal the sum of the milestone amounts.",
    )

    def plan(self) -> list[PlannedMilestone] | None:
        rows = self.validated_data.get("milestones")
        if rows is None:
            return None
        return [PlannedMilestone(r["title"], r["amount"], r.get("due_date")) for r in rows]


# --- helpers --------------------------------------------------------------


def _visible_job(request: Request, pk: int) -> Job:
    try:
        return job_selectors.get_visible_job(acting_user(request), pk)
    except Job.DoesNotExist:
        raise Http404 from None


def _job_response(request: Request, pk: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(JobSerializer(_visible_job(request, pk)).data, status=code)


def _visible_proposal(request: Request, pk: int) -> Proposal:
    try:
        return proposal_selectors.get_visible_proposal(acting_user(request), pk)
    except Proposal.DoesNotExist:
        raise Http404 from None


JOB_EXAMPLE = OpenApiExample(
    "Post and publish a job",
    value={
        "title": "Build a Django escrow dashboard",
        "description": "Milestone payments overview with charts and tests.",
        "category": "web-development",
        "skills": ["django", "python"],
        "budget": 250000,
        "currency": "usd",
        "deadline": "2030-01-31",
        "visibility": "public",
        "publish": True,
    },
    request_only=True,
)
PROPOSAL_EXAMPLE = OpenApiExample(
    "Propose a two-milestone plan",
    value={
        "cover_letter": "I have built three escrow dashboards in Django.",
        "currency": "usd",
        "milestones": [
            {"title": "Data model and API", "amount": 100000, "due_date": "2030-01-10"},
            {"title": "Dashboard pages", "amount": 150000, "due_date": "2030-01-24"},
        ],
        "total": 250000,
    },
    request_only=True,
)
JOB_ERRORS = (
    "Errors: `invalid_budget`, `deadline_in_past`, `invalid_title`, `too_many_skills` (400); "
    "`email_unverified`, `not_a_client`, `not_job_owner` (403); `job_not_editable`, "
    "`job_has_proposals` (409)."
)
PROPOSAL_ERRORS = (
    "Errors: `wrong_currency`, `invalid_milestone_count`, `invalid_milestone_amount`, "
    "`invalid_milestone_title`, `milestone_total_mismatch` (400); `own_job`, "
    "`not_a_freelancer`, `email_unverified`, `not_your_proposal` (403); `already_proposed`, "
    "`job_not_open`, `proposal_decided` (409)."
)
FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="Full-text search over title and description."),
    OpenApiParameter("category", str, description="Category slug."),
    OpenApiParameter("skills", str, description="Comma-separated skill slugs; any match."),
    OpenApiParameter("budget_min", int, description="Minimum budget in minor units."),
    OpenApiParameter("budget_max", int, description="Maximum budget in minor units."),
    OpenApiParameter("currency", str, enum=[c for c, _ in CURRENCY_CHOICES]),
    OpenApiParameter("posted_within", int, description="Published in the last N days."),
    OpenApiParameter(
        "ordering",
        str,
        enum=list(ORDERINGS),
        description="`relevance` (default with `q`), `newest` (default), `budget`, `-budget`.",
    ),
    OpenApiParameter("mine", bool, description="Only your own jobs, every status."),
]


# --- jobs -----------------------------------------------------------------


class JobListView(generics.ListAPIView[Job]):
    """Open jobs you may see (public, or invite-only and you are invited) plus your own."""

    serializer_class = JobSerializer

    def get_queryset(self) -> Any:
        params = JobFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return job_selectors.job_board(acting_user(self.request), params.filters())

    @extend_schema(parameters=FILTER_PARAMETERS, summary="Search jobs")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=JobCreateSerializer,
        responses={201: JobSerializer},
        examples=[JOB_EXAMPLE],
        summary="Post a job",
        description="Saved as a draft unless `publish` is true. " + JOB_ERRORS,
    )
    def post(self, request: Request) -> Response:
        body = JobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = job_services.create_job(actor=acting_user(request), **body.validated_data)
        return _job_response(request, job.pk, status.HTTP_201_CREATED)


class JobDetailView(APIView):
    """One job you may see."""

    serializer_class = JobSerializer

    @extend_schema(responses=JobSerializer, summary="Show a job")
    def get(self, request: Request, pk: int) -> Response:
        return _job_response(request, pk)

    @extend_schema(
        request=JobWriteSerializer(partial=True),
        responses=JobSerializer,
        examples=[
            OpenApiExample(
                "Raise the budget",
                value={"budget": 300000, "deadline": "2030-02-28"},
                request_only=True,
            )
        ],
        summary="Edit a draft or open job (owner)",
        description=JOB_ERRORS,
    )
    def patch(self, request: Request, pk: int) -> Response:
        _visible_job(request, pk)
        body = JobWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        job_services.update_job(actor=acting_user(request), job_id=pk, **body.validated_data)
        return _job_response(request, pk)


def _job_action(service: Any, summary: str, description: str) -> type[APIView]:
    class JobActionView(APIView):
        serializer_class = JobSerializer

        @extend_schema(
            request=None,
            responses=JobSerializer,
            summary=summary,
            description=description,
            examples=[OpenApiExample("No body", value=None, request_only=True)],
        )
        def post(self, request: Request, pk: int) -> Response:
            service(actor=acting_user(request), job_id=pk)
            return _job_response(request, pk)

    return JobActionView


JobPublishView = _job_action(
    job_services.publish_job,
    "Publish a draft job (owner)",
    "Draft -> open. Errors: `job_not_draft` (409), `email_unverified` (403).",
)
JobCloseView = _job_action(
    job_services.close_job, "Close an open job (owner)", "Open -> closed. `job_not_open` (409)."
)
JobCancelView = _job_action(
    job_services.cancel_job,
    "Cancel a draft or open job (owner)",
    "Errors: `job_not_cancellable` (409).",
)


class JobInviteView(APIView):
    """Invite a freelancer to propose on your job."""

    serializer_class = JobInviteSerializer

    @extend_schema(
        request=JobInviteCreateSerializer,
        responses={201: JobInviteSerializer},
        examples=[
            OpenApiExample(
                "Invite",
                value={"freelancer": 42, "message": "Your portfolio fits."},
                request_only=True,
            )
        ],
        summary="Invite a freelancer (owner)",
        description=(
            "Errors: `not_a_freelancer` (400), `not_job_owner` (403), `already_invited`, "
            "`job_not_open` (409)."
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        _visible_job(request, pk)  # someone else's draft is a 404, not a 400
        body = JobInviteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invite = job_services.invite_freelancer(
            actor=acting_user(request),
            job_id=pk,
            freelancer_id=body.validated_data["freelancer"],
            message=body.validated_data.get("message", ""),
        )
        return Response(JobInviteSerializer(invite).data, status=status.HTTP_201_CREATED)


# --- proposals ------------------------------------------------------------


class JobProposalListView(generics.ListAPIView[Proposal]):
    """The owner sees every proposal on the job; a freelancer sees only their own."""

    serializer_class = ProposalSerializer

    def get_queryset(self) -> Any:
        job = _visible_job(self.request, self.kwargs["pk"])
        return proposal_selectors.proposals_for_job(acting_user(self.request), job)

    @extend_schema(summary="List proposals on a job")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ProposalWriteSerializer,
        responses={201: ProposalSerializer},
        examples=[PROPOSAL_EXAMPLE],
        summary="Propose on a job (freelancer)",
        description="Once per job. " + PROPOSAL_ERRORS,
    )
    def post(self, request: Request, pk: int) -> Response:
        _visible_job(request, pk)  # someone else's draft is a 404, not a 400
        body = ProposalWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = proposal_services.submit_proposal(
            actor=acting_user(request),
            job_id=pk,
            cover_letter=body.validated_data["cover_letter"],
            currency=body.validated_data["currency"],
            milestones=body.plan() or [],
            total=body.validated_data.get("total"),
        )
        data = ProposalSerializer(_visible_proposal(request, proposal.pk)).data
        return Response(data, status=status.HTTP_201_CREATED)


class ProposalListView(generics.ListAPIView[Proposal]):
    """Your proposals as a freelancer, newest first."""

    serializer_class = ProposalSerializer

    def get_queryset(self) -> Any:
        return proposal_selectors.own_proposals(acting_user(self.request))

    @extend_schema(summary="List your proposals")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ProposalDetailView(APIView):
    """A proposal, seen by its freelancer and the job's owner."""

    serializer_class = ProposalSerializer

    @extend_schema(responses=ProposalSerializer, summary="Show a proposal")
    def get(self, request: Request, pk: int) -> Response:
        return Response(ProposalSerializer(_visible_proposal(request, pk)).data)

    @extend_schema(
        request=ProposalWriteSerializer(partial=True),
        responses=ProposalSerializer,
        examples=[
            OpenApiExample(
                "Replace the plan",
                value={"milestones": [{"title": "Everything", "amount": 240000}]},
                request_only=True,
            )
        ],
        summary="Edit your undecided proposal (freelancer)",
        description="A new `milestones` list replaces the whole plan. " + PROPOSAL_ERRORS,
    )
    def patch(self, request: Request, pk: int) -> Response:
        _visible_proposal(request, pk)
        body = ProposalWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        proposal_services.update_proposal(
            actor=acting_user(request),
            proposal_id=pk,
            cover_letter=body.validated_data.get("cover_letter"),
            currency=body.validated_data.get("currency"),
            milestones=body.plan(),
            total=body.validated_data.get("total"),
        )
        return Response(ProposalSerializer(_visible_proposal(request, pk)).data)


def _proposal_action(service: Any, summary: str, description: str) -> type[APIView]:
    class ProposalActionView(APIView):
        serializer_class = ProposalSerializer

        @extend_schema(
            request=None,
            responses=ProposalSerializer,
            summary=summary,
            description=description,
            examples=[OpenApiExample("No body", value=None, request_only=True)],
        )
        def post(self, request: Request, pk: int) -> Response:
            service(actor=acting_user(request), proposal_id=pk)
            return Response(ProposalSerializer(_visible_proposal(request, pk)).data)

    return ProposalActionView


ProposalWithdrawView = _proposal_action(
    proposal_services.withdraw_proposal,
    "Withdraw your proposal (freelancer)",
    "Errors: `not_your_proposal` (403), `proposal_decided` (409).",
)
ProposalShortlistView = _proposal_action(
    proposal_services.shortlist_proposal,
    "Shortlist a proposal (job owner)",
    "Errors: `not_job_owner` (403), `proposal_decided` (409).",
)
ProposalDeclineView = _proposal_action(
    proposal_services.decline_proposal,
    "Decline a proposal (job owner)",
    "Errors: `not_job_owner` (403), `proposal_decided` (409).",
)
