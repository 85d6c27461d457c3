"""Hand edits in the admin go to the audit log too.

Most admin pages are read-only and change state through actions that call services
(which write their own entries). Where a page still lets staff edit a row by hand
(a job's text, a user's roles), this mixin records the edit: who, which fields, and
their values before and after, inside the admin's own transaction.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from smartpay import audit

# Never copied into the log, whatever the model.
SECRET_FIELDS = frozenset({"password", "password1", "password2"})


def _values(form: ModelForm[Any], names: list[str], *, initial: bool) -> dict[str, Any]:
    source = form.initial if initial else form.cleaned_data
    values: dict[str, Any] = {}
    for name in names:
        value = source.get(name)
        if name in SECRET_FIELDS:
            value = "(changed)" if not initial else "(hidden)"
        elif isinstance(value, Model):
            value = value.pk
        elif isinstance(value, list | tuple | set | QuerySet):
            value = sorted(str(getattr(item, "pk", item)) for item in value)  # m2m choices
        values[name] = value
    return values


class AuditedModelAdmin(admin.ModelAdmin):
    """Records ``<model>.added_in_admin`` / ``edited_in_admin`` / ``deleted_in_admin``."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        name = obj._meta.model_name
        fields = [field for field in form.changed_data if field in form.fields]
        if change and not fields:
            return
        before = _values(form, fields, initial=True) if change else None
        after = _values(form, fields, initial=False)
        verb = "edited_in_admin" if change else "added_in_admin"
        audit.record(request.user, f"{name}.{verb}", obj, before=before, after=after)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Rows edited in an inline (a job's invites, a proposal's plan) count too."""
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                name = deleted.instance._meta.model_name
                audit.record(request.user, f"{name}.deleted_in_admin", deleted.instance)
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit.record(request.user, f"{obj._meta.model_name}.added_in_admin", obj)
        for obj, fields in formset.changed_objects:
            note = f"changed: {', '.join(fields)}"
            audit.record(request.user, f"{obj._meta.model_name}.edited_in_admin", obj, note=note)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record(request.user, f"{obj._meta.model_name}.deleted_in_admin", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            audit.record(request.user, f"{obj._meta.model_name}.deleted_in_admin", obj)
        super().delete_queryset(request, queryset)
