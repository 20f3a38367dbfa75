"""The audit catalogue: which actions an event may name, who can act, and through which door.

Actions are a registry rather than model choices, so an app can add its domain actions without a
migration of the audit table. ``audit_record`` refuses an action that is not registered (a typo
would otherwise split one action into two in every report). To add one, call
``action_register("sign_contract", "A contract was signed")`` in your ``AppConfig.ready()``, or
list it in ``DOMAIN_ACTIONS`` below when the contract names it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

ERROR_UNKNOWN_ACTION = (
    "Unknown audit action '{action}'. Register it with audit.choices.action_register() in your AppConfig.ready()."
)
ERROR_ACTION_FORMAT = "An audit action is snake_case, at most 64 characters: '{action}'."


class AuditAction(models.TextChoices):
    """The generic actions every record can go through."""

    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
    DELETE = "delete", _("Deleted")
    RESTORE = "restore", _("Restored after a soft delete")
    VIEW = "view", _("Viewed (where the contract asks for read auditing)")
    EXPORT = "export", _("Exported (privacy export)")
    ERASE = "erase", _("Personal data erased (GDPR); names the events it redacted")
    PURGE = "purge", _("Events deleted by the retention purge")
    CHANGE_PASSWORD = "change_password", _("Password changed")


# Domain actions named by the contract or used by the feature apps: "<verb>_<entity>".
DOMAIN_ACTIONS = {
    "schedule_activity": _("An activity was scheduled"),
    "complete_activity": _("An activity was marked done"),
    "reschedule_activity": _("An activity's deadline moved"),
    "cancel_activity": _("An activity was cancelled"),
    "reassign_activity": _("An activity changed hands"),
    "remind_activity": _("An activity's reminder was sent"),
    "read_notification": _("A notification was read"),
    "submit_invoice": _("An invoice was submitted for approval"),
    "approve_invoice": _("An invoice was approved"),
    "send_invoice": _("An invoice was sent to the client"),
    "view_invoice": _("The client viewed an invoice"),
    "write_off_invoice": _("An invoice was written off"),
    "mark_overdue_invoice": _("An invoice turned overdue"),
    "record_payment": _("A payment was recorded"),
    "create_payment_plan": _("An invoice was split into installments"),
    "rsvp_event": _("An attendee answered an invitation"),
    "complete_event": _("A calendar event was completed"),
    "revoke_calendar_feed": _("A calendar feed token was revoked"),
    "send_message": _("A message was sent through a provider"),
    "receive_message": _("A message arrived through a webhook"),
    "update_message_status": _("A provider reported a delivery status"),
    "link_message": _("An unmatched message was linked to a record"),
}

_ACTIONS: dict[str, str] = {choice.value: choice.label for choice in AuditAction}
_ACTIONS.update(DOMAIN_ACTIONS)


def action_register(action: str, description: str) -> None:
    """Add a domain action to the catalogue (call it from ``AppConfig.ready()``)."""
    if not action or len(action) > 64 or not action.replace("_", "").isalnum() or action != action.lower():
        raise ValueError(ERROR_ACTION_FORMAT.format(action=action))
    _ACTIONS[action] = description


def action_is_registered(action: str) -> bool:
    return action in _ACTIONS


def action_catalogue() -> dict[str, str]:
    """Every registered action and what it means, for the docs and the filters."""
    return dict(sorted(_ACTIONS.items()))


class ActorType(models.TextChoices):
    USER = "user", _("A user of the firm")
    SYSTEM = "system", _("The system (a task, a webhook, a command without a user)")
    PLATFORM = "platform", _("An operator of the platform (public admin)")


class Source(models.TextChoices):
    """The door a write came through (``traf3li.core.context.ActionContext.source``)."""

    # A context apart from the role "Admin" and the entry kind "Task": in Arabic these are other words.
    API = "api", pgettext_lazy("write source", "API")
    ADMIN = "admin", pgettext_lazy("write source", "Admin")
    WEBHOOK = "webhook", pgettext_lazy("write source", "Webhook")
    TASK = "task", pgettext_lazy("write source", "Task")
    COMMAND = "command", pgettext_lazy("write source", "Command")
    SYSTEM = "system", pgettext_lazy("write source", "System")
