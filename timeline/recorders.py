"""What core records put on the timeline: a new case or contact, a case's or lead's status change.

Receivers of ``traf3li.crm.signals``, connected in ``TimelineConfig.ready()``. The crm services
send them inside the record's own transaction, so an entry is recorded (or the write rolled back)
with the record.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from timeline.choices import EntryKind
from timeline.services import actor_user, entry_record, entry_relink_subject
from traf3li.core.i18n import in_firm_language
from traf3li.crm.models import Case, Contact, Lead

# Written in the firm's language, with the statuses' names, not their codes (traf3li.core.i18n).
TITLE_CASE_OPENED = _("Case opened: {title}")
TITLE_CONTACT_ADDED = _("Contact added: {name}")
TITLE_STATUS = _("Status changed from {before} to {after}")


def _status_label(instance: models.Model, value) -> str:
    labels = dict(instance._meta.get_field("status").flatchoices)
    return str(labels.get(value, value or "—"))


def _title(template, **values) -> str:
    with in_firm_language():
        return str(template).format(**{key: str(value) for key, value in values.items()})


def _status_title(instance, before, after) -> str:
    with in_firm_language():
        return _title(TITLE_STATUS, before=_status_label(instance, before), after=_status_label(instance, after))


def record_created(sender, *, instance: models.Model, actor=None, **kwargs) -> None:
    if isinstance(instance, Case):
        entry_record(
            kind=EntryKind.CASE_CREATED,
            subject=instance,
            title=_title(TITLE_CASE_OPENED, title=instance.title),
            description=instance.description,
            performed_by=actor_user(actor),
            status=instance.status,
            payload={
                "case_number": instance.case_number,
                "status": instance.status,
                "lawyer": instance.lawyer.display_name if instance.lawyer_id else "",
                "court": instance.court,
            },
            actor=actor,
        )
    elif isinstance(instance, Contact):
        entry_record(
            kind=EntryKind.NOTE,
            subject=instance,
            title=_title(TITLE_CONTACT_ADDED, name=instance.name),
            description=instance.job_title,
            performed_by=actor_user(actor),
            actor=actor,
        )


def record_updated(sender, *, instance: models.Model, before: dict, after: dict, actor=None, **kwargs) -> None:
    if isinstance(instance, Case | Lead) and before.get("status") != after.get("status"):
        entry_record(
            kind=EntryKind.STATUS_CHANGE,
            subject=instance,
            title=_status_title(instance, before.get("status"), after.get("status")),
            performed_by=actor_user(actor),
            status=after.get("status") or "",
            payload={"field": "status", "from": before.get("status"), "to": after.get("status")},
            actor=actor,
        )
    if isinstance(instance, Case | Contact) and before.get("client_id") != after.get("client_id"):
        # The record moved to another client: its history moves with it.
        entry_relink_subject(subject=instance, before=before)
