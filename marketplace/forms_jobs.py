"""Forms for the job and proposal pages. Amounts are typed in major units ("2500.00")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.forms import formset_factory

from marketplace.models import Category, Job, Skill
from marketplace.money import CURRENCY_CHOICES, to_minor_units
from marketplace.selectors.jobs import JobFilters
from marketplace.services.proposals import MAX_MILESTONES, PlannedMilestone

ORDERING_CHOICES = [
    ("", "Best match / newest"),
    ("newest", "Newest first"),
    ("budget", "Budget: low to high"),
    ("-budget", "Budget: high to low"),
]
POSTED_WITHIN_CHOICES = [
    ("", "Any time"),
    ("1", "Last 24 hours"),
    ("3", "Last 3 days"),
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
]


def minor_units(value: Decimal, currency: str) -> int:
    """Major units to minor units, or a form error naming the currency's precision."""
    try:
        return to_minor_units(value, currency)
    except (ValueError, ArithmeticError) as error:
        raise forms.ValidationError(str(error)) from None


class JobSearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="All categories",
    )
    skills = forms.ModelMultipleChoiceField(
        queryset=Skill.objects.all(), to_field_name="slug", required=False
    )
    currency = forms.ChoiceField(choices=[("", "Any currency"), *CURRENCY_CHOICES], required=False)
    budget_min = forms.DecimalField(label="Budget from", required=False, min_value=0)
    budget_max = forms.DecimalField(label="Budget to", required=False, min_value=0)
    posted_within = forms.TypedChoiceField(
        label="Posted", choices=POSTED_WITHIN_CHOICES, required=False, coerce=int, empty_value=None
    )
    ordering = forms.ChoiceField(label="Sort by", choices=ORDERING_CHOICES, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        currency = data.get("currency")
        for name in ("budget_min", "budget_max"):
            value = data.get(name)
            if value is None:
                continue
            if not currency:
                self.add_error(name, "Choose a currency to filter by budget.")
                continue
            try:
                data[name] = minor_units(value, currency)
            except forms.ValidationError as error:
                self.add_error(name, error)
        low, high = data.get("budget_min"), data.get("budget_max")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            self.add_error("budget_max", "The upper budget must not be below the lower one.")
        return data

    def filters(self) -> JobFilters:
        data = self.cleaned_data
        return JobFilters(
            q=data.get("q") or "",
            category=data["category"].slug if data.get("category") else "",
            skills=tuple(skill.slug for skill in data.get("skills") or ()),
            budget_min=data.get("budget_min"),
            budget_max=data.get("budget_max"),
            currency=data.get("currency") or "",
            posted_within=data.get("posted_within"),
            ordering=data.get("ordering") or "",
        )


class JobForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=20_000)
    category = forms.ModelChoiceField(queryset=Category.objects.all())
    skills = forms.ModelMultipleChoiceField(
        queryset=Skill.objects.all(),
        required=False,
        help_text="Up to 15. Hold Ctrl (or ⌘) to choose several.",
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    budget = forms.DecimalField(
        label="Fixed budget",
        help_text="In the currency below, e.g. 2500.00.",
        max_digits=60,
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="usd")
    deadline = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    visibility = forms.ChoiceField(choices=Job.Visibility.choices, initial=Job.Visibility.PUBLIC)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("budget") is not None and data.get("currency"):
            try:
                data["budget"] = minor_units(data["budget"], data["currency"])
            except forms.ValidationError as error:
                self.add_error("budget", error)
        return data

    @classmethod
    def initial_for(cls, job: Job) -> dict[str, Any]:
        from marketplace.money import CURRENCIES

        exponent = CURRENCIES[job.currency].exponent
        return {
            "title": job.title,
            "description": job.description,
            "category": job.category_id,
            "skills": [skill.pk for skill in job.skills.all()],
            "budget": Decimal(int(job.budget)).scaleb(-exponent),
            "currency": job.currency,
            "deadline": job.deadline,
            "visibility": job.visibility,
        }


class InviteForm(forms.Form):
    email = forms.EmailField(label="Freelancer's e-mail address")
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ProposalForm(forms.Form):
    cover_letter = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=20_000)


class MilestoneRowForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    amount = forms.DecimalField(required=False, max_digits=60, help_text="e.g. 1250.00")
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        has_title, has_amount = bool(data.get("title")), data.get("amount") is not None
        if has_title != has_amount and not self.errors:
            raise forms.ValidationError("Give each milestone both a title and an amount.")
        return data


BaseMilestoneFormSet = formset_factory(
    MilestoneRowForm, extra=0, max_num=MAX_MILESTONES, absolute_max=MAX_MILESTONES
)


class MilestoneFormSet(BaseMilestoneFormSet):  # type: ignore[valid-type,misc]
    """Blank rows are skipped; at least one filled row is needed."""

    currency: str = "usd"

    def plan(self) -> list[PlannedMilestone]:
        rows = []
        for form in self.forms:
            data = form.cleaned_data
            if not data or not data.get("title"):
                continue
            rows.append(
                PlannedMilestone(
                    title=data["title"],
                    amount=minor_units(data["amount"], self.currency),
                    due_date=data.get("due_date"),
                )
            )
        return rows


DEFAULT_ROWS = 5


def milestone_formset(
    data: Any = None, *, currency: str, initial: list[dict[str, Any]] | None = None
) -> MilestoneFormSet:
    """A plan with at least DEFAULT_ROWS rows (filled ones first)."""
    initial = initial or []
    formset_class = formset_factory(
        MilestoneRowForm,
        formset=MilestoneFormSet,
        extra=max(DEFAULT_ROWS - len(initial), 1),
        max_num=MAX_MILESTONES,
        absolute_max=MAX_MILESTONES,
    )
    formset = cast(MilestoneFormSet, formset_class(data, initial=initial, prefix="milestones"))
    formset.currency = currency
    return formset


def add_row(data: Any) -> Any:
    """The POST data with one more blank milestone row (the "Add a milestone" button)."""
    data = data.copy()
    key = "milestones-TOTAL_FORMS"
    data[key] = str(min(int(data.get(key) or 0) + 1, MAX_MILESTONES))
    return data
