from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from audit.services import audit_record, snapshot
from traf3li.admin_sites import firm_admin, platform_admin
from traf3li.users.models import User


class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "role", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (("Firm", {"fields": ("role", "phone")}),)

    def save_model(self, request, obj, form, change):
        # The admin's form already validated; the audit event must land with the save.
        before = snapshot(User.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        audit_record(
            action="update" if change else "create",
            instance=obj,
            before=before,
            after=snapshot(obj),
            actor=request.user,
        )


firm_admin.register(User, UserAdmin)
platform_admin.register(User, BaseUserAdmin)
