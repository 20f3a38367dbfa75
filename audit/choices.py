"""The audit catalogue: which actions an event may name, who can act, and through which door.

Actions are a registry rather than model choices, so an app can add its domain actions without a
migration of the audit table. ``audit_record`` refuses an action that is not registered (a typo
would otherwise split one action into two in every report). To add one, call
``action_register("sign_contract", "A contract was signed")`` in your ``AppConfig.ready()``, or
list it in ``DOMAIN_ACTIONS`` below when the contract names it.
"""

from django.db import models

ERROR_UNKNOWN_ACTION = (
    "Unknown audit action '{action}'. Register it with audit.choices.action_register() in your AppConfig.ready()."
)
ERROR_ACTION_FORMAT = "An audit action is snake_case, at most 64 characters: '{action}'."


class AuditAction(models.TextChoices):
    """The generic actions every record can go through."""

    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    RESTORE = "restore", "Restored after a soft delete"
    VIEW = "view", "Viewed (where the contract asks for read auditing)"
    EXPORT = "export", "Exported (privacy export)"
    ERASE = "erase", "Personal data erased (GDPR); names the events it redacted"
    PURGE = "purge", "Events deleted by the retention purge"
    CHANGE_PASSWORD = "change_password", "Password changed"


# Domain actions named by the contract or used by the feature apps: "<verb>_<entity>".
DOMAIN_ACTIONS = {
    "schedule_activity": "An activity was scheduled",
    "complete_activity": "An activity was marked done",
    "reschedule_activity": "An activity's deadline moved",
    "cancel_activity": "An activity was cancelled",
    "reassign_activity": "An activity changed hands",
    "remind_activity": "An activity's reminder was sent",
    "read_notification": "A notification was read",
    "submit_invoice": "An invoice was submitted for approval",
    "approve_invoice": "An invoice was approved",
    "send_invoice": "An invoice was sent to the client",
    "view_invoice": "The client viewed an invoice",
    "write_off_invoice": "An invoice was written off",
    "mark_overdue_invoice": "An invoice turned overdue",
    "record_payment": "A payment was recorded",
    "create_payment_plan": "An invoice was split into installments",
    "rsvp_event": "An attendee answered an invitation",
    "complete_event": "A calendar event was completed",
    "revoke_calendar_feed": "A calendar feed token was revoked",
    "send_message": "A message was sent through a provider",
    "receive_message": "A message arrived through a webhook",
    "update_message_status": "A provider reported a delivery status",
    "link_message": "An unmatched message was linked to a record",
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
    USER = "user", "A user of the firm"
    SYSTEM = "system", "The system (a task, a webhook, a command without a user)"
    PLATFORM = "platform", "An operator of the platform (public admin)"


class Source(models.TextChoices):
    """The door a write came through (``traf3li.core.context.ActionContext.source``)."""

    API = "api", "API"
    ADMIN = "admin", "Admin"
    WEBHOOK = "webhook", "Webhook"
    TASK = "task", "Task"
    COMMAND = "command", "Command"
    SYSTEM = "system", "System"
