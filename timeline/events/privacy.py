"""Where calendar events keep personal data (the privacy data map, ``traf3li.core.privacy``).

An event keeps its time, type and case (the firm's diary); it loses the person's name wherever
quoted. An outside attendee who is the person keeps the invitation row (the event's RSVP counts)
under an address that reaches nobody.
"""

from django.db.models import Q

from timeline.events.models import ActionItem, AgendaItem, Attendee, Event
from traf3li.core.privacy import REDACTED, privacy_register_rows

ERASED_EMAIL = "erased-{pk}@erased.invalid"  # unique per event (attendee_email_once), RFC 2606's .invalid


def _attendee_is_person(subject) -> Q:
    email = getattr(subject.instance, "email", "")
    return Q(user__isnull=True, email__iexact=email) if email else Q(pk__in=[])


def _attendee_replace(subject, attendee: Attendee) -> dict:
    if attendee.user_id is not None:
        return {}
    return {"name": REDACTED if attendee.name else "", "email": ERASED_EMAIL.format(pk=attendee.pk), "comment": ""}


def register() -> None:
    privacy_register_rows(
        Event, scrubbed=("title", "description", "location", "outcome"), exported=("start_at", "end_at", "type")
    )
    privacy_register_rows(
        Attendee, scrubbed=("name", "email", "comment"), about=_attendee_is_person, replace=_attendee_replace,
        exported=("event", "status", "response"),
    )  # fmt: skip
    privacy_register_rows(AgendaItem, scrubbed=("title",), exported=("event",))
    privacy_register_rows(ActionItem, scrubbed=("description",), exported=("event",))
