"""What each role may do, written once as Django permissions (ADR 0031).

The firm admin checks these permissions (each ModelAdmin's ``has_*_permission`` and its actions'
``allowed_permissions``) and the services ask them where a right differs by role (deleting a case,
its legal hold), so the API and the admin give a role the same rights. The map follows the API's
rules: every user of the firm works the files (CRM records, timeline entries, activities); only
admins manage people, activity types, firm settings and calendars, and read the audit log
(``traf3li.api.permissions.IsFirmAdmin``). Admins are superusers of their own firm's schema: the
users table is per firm, so that reaches no other firm.

Each role is a group of the same name in every firm schema, its permissions set by
``role_groups_sync`` after each migration of a firm schema (``UsersConfig.ready``); a user's group,
``is_staff`` and ``is_superuser`` follow the role through ``traf3li.users.services``. Permissions are
named by strings: this module imports no app above ``traf3li``.
"""

from django.apps import apps
from django.db import models

ADMIN, LAWYER, STAFF = "admin", "lawyer", "staff"
ROLES = (ADMIN, LAWYER, STAFF)

CRUD = ("view", "add", "change", "delete")

# Codename -> (model, name): rights no model's default permissions express.
CUSTOM_PERMISSIONS = {
    "crm.hold_case": ("crm.case", "Can place or lift the legal hold of a case"),
}
# Placing or lifting a hold (a case's or a client's) is the admins' alone (ADR 0065, amending ADR 0031).
PERM_HOLD_CASE = "crm.hold_case"

# What every user of the firm may do: the API gives these to any authenticated user.
_EVERYONE = {
    "crm.organization": CRUD,
    "crm.client": CRUD,
    "crm.contact": CRUD,
    "crm.lead": CRUD,
    # Deleting a case is the lawyers' and admins' call (ADR 0031); staff close cases instead.
    "crm.case": ("view", "add", "change"),
    # "delete" is the soft delete (and its restore): entries are never removed. "add" is the API's
    # POST; the admin adds none (entries come from the API, the channels and other apps).
    "timeline.entry": CRUD,
    # Activities are never deleted (ADR 0022): cancel one instead. Completing and cancelling are changes.
    "activities.activity": ("view", "add", "change"),
    "activities.activitytype": ("view",),
    # The calendar: everyone plans hearings and meetings; action items are activities, added not deleted.
    "events.event": CRUD,
    "events.attendee": CRUD,
    "events.agendaitem": CRUD,
    "events.actionitem": ("view", "add"),
    # Messages, calls and emails are as the providers reported them: read by all, changed by none.
    # Sending goes through the API (and a resend through the message's admin action).
    "messaging.message": ("view",),
    "messaging.call": ("view",),
    "messaging.emailmessage": ("view",),
    "messaging.emailcampaign": ("view",),
    # Invoices are never deleted (gapless numbers); payments and plans are added through an invoice.
    "billing.invoice": ("view", "add", "change"),
    "billing.payment": ("view",),
    "billing.paymentplan": ("view",),
}
# Approving issues an invoice to ZATCA's chain and writing one off forgives a debt (billing ADR 0041).
_LAWYER_EXTRA = {"crm.case": ("delete",), "billing.invoice": ("approve", "write_off")}


def _expand(*grants: dict[str, tuple[str, ...]]) -> frozenset[str]:
    perms = set()
    for grant in grants:
        for model, actions in grant.items():
            app_label, model_name = model.split(".")
            perms.update(f"{app_label}.{action}_{model_name}" for action in actions)
    return frozenset(perms)


# Role -> "app_label.codename" permissions; ``None`` is every permission (the firm's superusers).
ROLE_PERMISSIONS: dict[str, frozenset[str] | None] = {
    ADMIN: None,
    LAWYER: _expand(_EVERYONE, _LAWYER_EXTRA),
    STAFF: _expand(_EVERYONE),
}


def role_flags(*, role: str, is_active: bool) -> dict:
    """The user fields the role decides: every active user may log in to the firm admin, admins as superusers."""
    return {"is_staff": bool(is_active), "is_superuser": role == ADMIN}


def actor_may(actor, perm: str) -> bool:
    """Whether ``actor`` holds ``perm``; the system and platform operators (no ``has_perm``) always do."""
    has_perm = getattr(actor, "has_perm", None)
    return has_perm is None or has_perm(perm)


def _custom_permissions_sync():
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    for perm, (model, name) in CUSTOM_PERMISSIONS.items():
        content_type = ContentType.objects.get_for_model(apps.get_model(model))
        Permission.objects.update_or_create(
            content_type=content_type, codename=perm.split(".")[1], defaults={"name": name}
        )


def _permissions(names: frozenset[str] | None) -> models.QuerySet:
    from django.contrib.auth.models import Permission

    everything = Permission.objects.all()
    if names is None:
        return everything
    wanted = models.Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".")
        wanted |= models.Q(content_type__app_label=app_label, codename=codename)
    return everything.filter(wanted)


def role_groups_sync() -> dict:
    """Create or correct the role groups of the current firm schema; returns {role: Group}.

    Idempotent. A permission the map names but the schema lacks is a typo or a dropped model:
    fail loudly rather than quietly give a role less than the map says.
    """
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.management import create_contenttypes

    # The groups may be synced before the apps' own post_migrate handlers made their permissions.
    for app_config in apps.get_app_configs():
        create_contenttypes(app_config, verbosity=0)
        create_permissions(app_config, verbosity=0)
    _custom_permissions_sync()
    groups = {}
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = list(_permissions(names))
        if names is not None and len(perms) != len(names):
            found = {f"{p.content_type.app_label}.{p.codename}" for p in perms}
            raise LookupError(f"Role {role!r} names unknown permissions: {sorted(names - found)}")
        group.permissions.set(perms)
        groups[role] = group
    return groups


def role_group(role: str):
    """The group of ``role`` in the current firm schema, synced first if the schema has none yet."""
    from django.contrib.auth.models import Group

    group = Group.objects.filter(name=role).first()
    return group if group is not None else role_groups_sync()[role]
