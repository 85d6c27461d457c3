"""Admin for jobs, invitations and proposals. Read-mostly: statuses change only through
the services; what staff may still correct by hand (a title, a description) is
recorded in the audit log."""

from django.contrib import admin

from marketplace.models import Job, JobInvite, Proposal, ProposalMilestone
from smartpay.admin_audit import AuditedModelAdmin


class JobInviteInline(admin.TabularInline):
    model = JobInvite
    extra = 0
    raw_id_fields = ("freelancer",)
    readonly_fields = ("created_at",)


class ProposalInline(admin.TabularInline):
    model = Proposal
    extra = 0
    fields = ("freelancer", "status", "currency", "total", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Job)
class JobAdmin(AuditedModelAdmin):
    list_display = ("title", "client", "status", "visibility", "budget", "currency", "published_at")
    list_filter = ("status", "visibility", "currency", "category")
    search_fields = ("title", "description", "client__email")
    raw_id_fields = ("client",)
    filter_horizontal = ("skills",)
    list_select_related = ("client", "category")
    readonly_fields = ("status", "created_at", "updated_at", "published_at")
    date_hierarchy = "created_at"
    inlines = (JobInviteInline, ProposalInline)


class ProposalMilestoneInline(admin.TabularInline):
    model = ProposalMilestone
    extra = 0
    fields = ("position", "title", "amount", "due_date")


@admin.register(Proposal)
class ProposalAdmin(AuditedModelAdmin):
    list_display = ("id", "job", "freelancer", "status", "total", "currency", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("job__title", "freelancer__email", "cover_letter")
    raw_id_fields = ("job", "freelancer")
    list_select_related = ("job", "freelancer")
    readonly_fields = ("status", "created_at", "updated_at")
    inlines = (ProposalMilestoneInline,)


@admin.register(JobInvite)
class JobInviteAdmin(AuditedModelAdmin):
    list_display = ("job", "freelancer", "created_at")
    search_fields = ("job__title", "freelancer__email")
    raw_id_fields = ("job", "freelancer")
    list_select_related = ("job", "freelancer")
