from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction

from audit.services import audit_record, snapshot
from traf3li.admin_sites import firm_admin, platform_admin
from traf3li.core.writes import form_changes
from traf3li.users.models import User
from traf3li.users.services import user_update


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password page saves through this form, not save_model: audit it here (never the password)."""

    def save(self, commit=True):
        with transaction.atomic():
            user = super().save(commit=commit)
            if commit:
                audit_record(action="change_password", instance=user)
        return user


class UserAdmin(BaseUserAdmin):
    change_password_form = AuditedPasswordChangeForm
    list_display = ["username", "email", "first_name", "last_name", "role", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (("Firm", {"fields": ("role", "phone")}),)

    def has_delete_permission(self, request, obj=None):
        # Deactivate people instead: a delete would null their cases' lawyer behind the services'
        # back (SET_NULL), unaudited, and their user id is what their audit events point at.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            # Only the fields this form changed: the rest of ``obj`` is as the admin read it, maybe stale.
            user_update(user=obj, data=form_changes(form), actor=request.user)
            return
        # The admin's form already validated; the audit event must land with the save.
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(action="create", instance=obj, after=snapshot(obj), actor=request.user)


firm_admin.register(User, UserAdmin)
platform_admin.register(User, BaseUserAdmin)
