from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, SetUnusablePasswordMixin
from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext, ngettext_lazy

from audit.services import audit_record
from traf3li.admin_sites import RevocableTokenAdmin, firm_admin, platform_admin
from traf3li.core.writes import form_changes
from traf3li.users.models import ApiToken, User
from traf3li.users.services import api_token_revoke, user_create, user_update

# Django's own strings on the user pages that its Arabic catalogue lacks (new in 5.1) or leaves in English
# ("salt", "hash"). Listed here so that makemessages copies them into locale/ar, which Django reads
# before its own catalogues (LOCALE_PATHS): the msgids must match Django's to the character.
DJANGO_STRINGS_MISSING_IN_ARABIC = (
    gettext_noop("Password-based authentication"),
    gettext_noop(
        "Whether the user will be able to authenticate using a password or not. If disabled, they may still be "
        "able to authenticate using other backends, such as Single Sign-On or LDAP."
    ),
    gettext_noop("Enabled"),
    gettext_noop("Disabled"),
    gettext_noop("Raw passwords are not stored, so there is no way to see the user’s password."),
    gettext_noop("Enable password-based authentication for this user by setting a password."),
    gettext_noop("Reset password"),
    gettext_noop("Set password"),
    gettext_noop("Set password: %s"),
    gettext_noop("Password-based authentication was disabled."),
    gettext_noop("Conflicting form data submitted. Please try again."),
    gettext_noop("salt"),
    gettext_noop("hash"),
    ngettext_lazy(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
    ),
)

# The user's own settings, as far as the model has them (the language preference is newer than the rest).
FIRM_FIELDS = tuple(name for name in ("role", "phone", "language") if name in {f.name for f in User._meta.fields})


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password page saves through this form, not save_model: audit it here (never the password)."""

    # Django joins its warning to the help text when the class is defined, in English whatever the reader's
    # language; this is the same markup (the page's script shows the warning), translated when shown.
    usable_password_help_text = format_lazy(
        '{}<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
        SetUnusablePasswordMixin.usable_password_help_text,
        _("If disabled, the current password for this user will be lost."),
    )

    def save(self, commit=True):
        with transaction.atomic():
            user = super().save(commit=commit)
            if commit:
                audit_record(action="change_password", instance=user)
        return user


class UserAdmin(BaseUserAdmin):
    """The firm's people, for its admins only (the role map gives no one else a user permission).

    The role is the one source of a user's rights (``traf3li.users.roles``): the form shows no
    ``is_staff``, ``is_superuser``, groups or permissions to tick, the services derive them.
    """

    change_password_form = AuditedPasswordChangeForm
    list_display = ["username", "email", "first_name", "last_name", "role", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Firm"), {"fields": (*FIRM_FIELDS, "is_active")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        (_("Firm"), {"fields": ("email", "first_name", "last_name", *FIRM_FIELDS)}),
    )
    readonly_fields = ["last_login"]

    def has_delete_permission(self, request, obj=None):
        # Deactivate people instead: a delete would null their cases' lawyer behind the services'
        # back (SET_NULL), unaudited, and their user id is what their audit events point at.
        return False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and "role" in form.base_fields:
            form.base_fields["role"].required = False  # unset is the model's default: staff, the least rights
        return form

    def save_model(self, request, obj, form, change):
        if change:
            # Only the fields this form changed: the rest of ``obj`` is as the admin read it, maybe stale.
            user_update(user=obj, data=form_changes(form), actor=request.user)
            return
        # The creation form validated the password; the service sets it (or an unusable one) and the role's rights.
        data = form.cleaned_data
        password = data.get("password1") if data.get("usable_password", "true") != "false" else None
        extra = {name: data[name] for name in ("first_name", "last_name", *FIRM_FIELDS) if data.get(name)}
        created = user_create(
            username=data["username"], password=password, email=data.get("email", ""), actor=request.user, **extra
        )
        obj.pk = created.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # No many-to-many of the form to save: groups follow the role, and the form has none.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class ApiTokenAdmin(RevocableTokenAdmin):
    """The firm's API tokens, for its admins: who, when, until when, last used; never the token nor its hash."""

    list_display = ["prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at", "active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    list_select_related = ["user"]
    search_fields = ["prefix", "user__username"]
    readonly_fields = ["prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at"]
    fields = readonly_fields
    actions = ["revoke_selected"]  # issued by logging in, at POST /api/v1/auth/token/

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = sum(api_token_revoke(token=token, actor=request.user) for token in queryset.order_by("pk"))
        self.message_user(
            request, ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", revoked) % {"count": revoked}
        )


firm_admin.register(User, UserAdmin)
firm_admin.register(ApiToken, ApiTokenAdmin)
platform_admin.register(User, BaseUserAdmin)
