"""Where timeline entries keep personal data (the privacy data map, ``traf3li.core.privacy``).

An entry keeps its row (its id, kind, time and links: what happened and when); it loses the
person's name wherever it is quoted (``subject_name``, ``related[].name``, ``performed_by_name``,
the title, the payload) and, when the entry is about the person, its free text.
"""

from django.db.models import Q

from timeline.models import Entry
from traf3li.core.privacy import REDACTED, privacy_register_rows, scrub

# Payload keys (of every kind's shape, ``timeline.schemas``) that hold what the person said or
# where they are reached: blanked on entries about the person.
FREE_TEXT = frozenset({
    "transcription", "recording_url", "from", "to", "cc", "subject", "agenda", "summary", "next_steps",
    "body", "clicked_links", "media", "feedback", "file_name", "url",
})  # fmt: skip
SCRUBBED = ("subject_name", "related", "title", "description", "performed_by_name", "payload")


def _about(subject) -> Q:
    ref = subject.ref
    return Q(subject_type=ref.type, subject_id=ref.id) | Q(related__contains=[{"type": ref.type, "id": ref.id}])


def _replace(subject, entry: Entry) -> dict:
    related = [
        {**item, "name": REDACTED}
        if isinstance(item, dict) and subject.is_subject(item.get("type"), item.get("id"))
        else item
        for item in entry.related
    ]
    values = {"related": related}
    if subject.is_subject(entry.subject_type, entry.subject_id):
        # About the person: what was said is theirs. The payload keeps its keys (its kind's shape).
        payload = scrub(entry.payload, subject.markers)
        values.update(subject_name=REDACTED, description="", payload=_blank_free_text(payload))
    return values


def _blank_free_text(payload):
    """The payload's free text and addresses go; its enumerations (direction, outcome…) stay valid."""
    if not isinstance(payload, dict):
        return payload
    return {key: ([] if isinstance(value, list) else "") if key in FREE_TEXT and value else value
            for key, value in payload.items()}  # fmt: skip


def register() -> None:
    # After every record (ADR 0030: records, then entries); only the audit log comes later.
    privacy_register_rows(
        Entry, scrubbed=SCRUBBED, about=_about, replace=_replace, exported=("kind", "occurred_at"), order=60
    )
