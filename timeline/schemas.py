"""One payload schema per entry kind: typed fields, unknown keys rejected, text fields searchable.

A schema is a dict of field name -> ``Field``. ``payload_validate`` returns the cleaned payload
or raises ``PayloadError`` with ``{field: [message]}`` so callers can name the offending field.
Every field is optional and may be null ("not known yet"); when present it must have its type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from timeline.choices import EntryKind
from traf3li.api.bounds import INT4_MAX, INT8_MAX, MAX_ITEMS, MAX_LINE, MAX_TEXT, day_error, moment_error

ERROR_NOT_OBJECT = _("The payload must be a JSON object.")
ERROR_UNKNOWN_KEY = _("Unknown field for kind '{kind}'. Allowed: {allowed}.")
ERROR_STRING = _("Must be a string.")
ERROR_INTEGER = _("Must be a whole number.")
ERROR_NEGATIVE = _("Must be zero or more.")
ERROR_TOO_BIG = _("At most {max}.")
ERROR_BOOLEAN = _("Must be true or false.")
ERROR_CHOICE = _("Must be one of: {choices}.")
ERROR_DATETIME = _("Must be an ISO-8601 date-time with an offset.")
ERROR_DATE = _("Must be a date, YYYY-MM-DD.")
ERROR_DECIMAL = _('Must be a decimal number written as a string, e.g. "150.00".')
ERROR_DECIMAL_RANGE = _("At most {digits} digits before the decimal point and {places} after.")
ERROR_LIST = _("Must be a list.")
ERROR_URL = _("Must be an http(s) URL.")
ERROR_TOO_LONG = _("At most {max} characters.")
ERROR_TOO_MANY = _("At most {max} items.")
ERROR_SUBJECT = _("Must be a subject like 'contact:5'.")
ERROR_NUL = _("Must not contain NUL characters.")

MAX_URL = 2_048  # what browsers and providers reliably take
# Money as a NUMERIC(21, 6) holds it: any amount in any currency (three-decimal dinars too), and
# nothing like "1e999" that no column or sum downstream could take.
DECIMAL_DIGITS, DECIMAL_PLACES = 15, 6
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_SUBJECT = re.compile(r"^[a-z_]+:\d+$")


class PayloadError(Exception):
    """A payload that does not match its kind's schema; ``errors`` maps field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Field:
    """One payload field: its type, its allowed values, and whether search indexes it."""

    type: str  # str | text | int | bool | datetime | date | decimal | url | subject | list | object
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    # What the number's column (or any column it may be copied to) holds: ids are bigints.
    maximum: int = INT8_MAX
    items: Field | None = None  # for lists
    max_items: int = MAX_ITEMS  # for lists
    schema: dict[str, Field] = field(default_factory=dict)  # for objects
    searchable: bool = False

    def clean(self, value, path: str, errors: dict):
        if value is None:
            return None
        checker = getattr(self, f"_clean_{self.type}")
        return checker(value, path, errors)

    def _error(self, errors, path, message):
        errors.setdefault(path, []).append(message)

    def _clean_str(self, value, path, errors):
        if not isinstance(value, str):
            return self._error(errors, path, ERROR_STRING)
        if "\x00" in value:  # PostgreSQL text and jsonb can't store it
            return self._error(errors, path, ERROR_NUL)
        # free text (searchable) may be long; a one-line string (an address, an id, a status) not
        limit = MAX_TEXT if self.type == "text" else MAX_LINE
        if len(value) > limit:
            return self._error(errors, path, ERROR_TOO_LONG.format(max=limit))
        if self.choices and value not in self.choices:
            return self._error(errors, path, ERROR_CHOICE.format(choices=", ".join(self.choices)))
        return value

    _clean_text = _clean_str

    def _clean_url(self, value, path, errors):
        if not isinstance(value, str) or not _URL.match(value) or "\x00" in value:
            return self._error(errors, path, ERROR_URL)
        if len(value) > MAX_URL:
            return self._error(errors, path, ERROR_TOO_LONG.format(max=MAX_URL))
        return value

    def _clean_subject(self, value, path, errors):
        if isinstance(value, dict) and set(value) <= {"type", "id", "name"}:
            value = f"{value.get('type')}:{value.get('id')}"
        if not isinstance(value, str) or not _SUBJECT.match(value):
            return self._error(errors, path, ERROR_SUBJECT)
        return value

    def _clean_int(self, value, path, errors):
        # bool is an int in Python; JSON true is not a duration.
        if isinstance(value, bool) or not isinstance(value, int):
            return self._error(errors, path, ERROR_INTEGER)
        if self.minimum is not None and value < self.minimum:
            return self._error(errors, path, ERROR_NEGATIVE)
        if value > self.maximum:
            return self._error(errors, path, ERROR_TOO_BIG.format(max=self.maximum))
        return value

    def _clean_bool(self, value, path, errors):
        if not isinstance(value, bool):
            return self._error(errors, path, ERROR_BOOLEAN)
        return value

    def _clean_datetime(self, value, path, errors):
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:  # well-formed but no such moment: 30 February, hour 24
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return self._error(errors, path, ERROR_DATETIME)
        error = moment_error(parsed)
        if error:
            return self._error(errors, path, error)
        return value

    def _clean_date(self, value, path, errors):
        try:
            parsed = parse_date(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, date):
            return self._error(errors, path, ERROR_DATE)
        error = day_error(parsed)
        if error:
            return self._error(errors, path, error)
        return value

    def _clean_decimal(self, value, path, errors):
        # Money is never a float: a JSON number would already have lost precision.
        if isinstance(value, bool) or not isinstance(value, str | int):
            return self._error(errors, path, ERROR_DECIMAL)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return self._error(errors, path, ERROR_DECIMAL)
        if not number.is_finite():
            return self._error(errors, path, ERROR_DECIMAL)
        if (number and number.adjusted() >= DECIMAL_DIGITS) or number.as_tuple().exponent < -DECIMAL_PLACES:
            return self._error(errors, path, ERROR_DECIMAL_RANGE.format(digits=DECIMAL_DIGITS, places=DECIMAL_PLACES))
        return str(number)

    def _clean_list(self, value, path, errors):
        if not isinstance(value, list):
            return self._error(errors, path, ERROR_LIST)
        if len(value) > self.max_items:
            return self._error(errors, path, ERROR_TOO_MANY.format(max=self.max_items))
        return [self.items.clean(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]

    def _clean_object(self, value, path, errors):
        return _clean_object(self.schema, value, path, errors, kind=path)


def _clean_object(schema: dict[str, Field], value, path: str, errors: dict, *, kind: str) -> dict | None:
    if not isinstance(value, dict):
        errors.setdefault(path or "payload", []).append(ERROR_NOT_OBJECT)
        return None
    cleaned = {}
    for key, item in value.items():
        item_path = f"{path}.{key}" if path else key
        spec = schema.get(key)
        if spec is None:
            errors.setdefault(item_path, []).append(
                ERROR_UNKNOWN_KEY.format(kind=kind, allowed=", ".join(sorted(schema)) or "none")
            )
            continue
        cleaned[key] = spec.clean(item, item_path, errors)
    return cleaned


def _text(**kw) -> Field:
    return Field("text", searchable=True, **kw)


DIRECTION = Field("str", choices=("inbound", "outbound"))
CALL_OUTCOMES = ("connected", "no_answer", "voicemail", "busy", "failed")
MEETING_TYPES = ("in_person", "video", "phone", "court")
TASK_ACTIONS = ("scheduled", "completed", "rescheduled", "cancelled", "reassigned")
TASK_STATES = ("scheduled", "done", "cancelled")
MEDIA = Field(
    "object",
    schema={
        "id": Field("str"),
        "url": Field("url"),
        "mime_type": Field("str"),
        "caption": _text(),
        "filename": _text(),
    },
)
MESSAGE = {
    "direction": DIRECTION,
    "from": Field("str"),
    "to": Field("str"),
    "body": _text(),
    "status": Field("str"),
    "message_id": Field("str"),
    "media": Field("list", items=MEDIA),
}

SCHEMAS: dict[str, dict[str, Field]] = {
    EntryKind.CALL: {
        "direction": DIRECTION,
        "duration_seconds": Field("int", minimum=0, maximum=INT4_MAX),  # Entry.duration_seconds is int4
        "outcome": Field("str", choices=CALL_OUTCOMES),
        "recording_url": Field("url"),
        "transcription": _text(),
        "from": Field("str"),
        "to": Field("str"),
    },
    EntryKind.EMAIL: {
        "message_id": Field("str"),
        "from": Field("str"),
        "to": Field("list", items=Field("str")),
        "cc": Field("list", items=Field("str")),
        "subject": _text(),
        "opened": Field("bool"),
        "opened_at": Field("datetime"),
        "clicked": Field("bool"),
        "clicked_links": Field("list", items=Field("str")),
    },
    EntryKind.SMS: MESSAGE,
    EntryKind.WHATSAPP: MESSAGE,
    EntryKind.MEETING: {
        "meeting_type": Field("str", choices=MEETING_TYPES),
        "scheduled_start": Field("datetime"),
        "actual_start": Field("datetime"),
        "actual_duration_minutes": Field("int", minimum=0, maximum=INT4_MAX // 60),  # stored as seconds
        "participants": Field(
            "list", items=Field("object", schema={"subject": Field("subject"), "attended": Field("bool")})
        ),
        "agenda": _text(),
        "summary": _text(),
        "next_steps": _text(),
    },
    EntryKind.TASK: {
        "activity_id": Field("int", minimum=1),
        "activity_type": _text(),
        "action": Field("str", choices=TASK_ACTIONS),
        "state": Field("str", choices=TASK_STATES),
        "deadline": Field("date"),
        "assignee": _text(),
        "feedback": _text(),
        "next_activity_id": Field("int", minimum=1),
    },
    EntryKind.NOTE: {
        "pinned": Field("bool"),
        "tags": Field("list", items=Field("str", searchable=True)),  # each one line
    },
    EntryKind.DOCUMENT: {
        "action": Field("str", choices=("uploaded", "updated", "signed", "shared", "deleted")),
        "file_name": _text(),
        "url": Field("url"),
        "mime_type": Field("str"),
        "size_bytes": Field("int", minimum=0),
        "version": Field("int", minimum=1, maximum=INT4_MAX),
    },
    EntryKind.STATUS_CHANGE: {
        "field": Field("str"),
        "from": _text(),
        "to": _text(),
    },
    EntryKind.CASE_CREATED: {
        "case_number": _text(),
        "status": Field("str"),
        "lawyer": _text(),
        "court": _text(),
    },
    EntryKind.INVOICE: {
        "invoice_id": Field("int", minimum=1),
        "invoice_number": _text(),
        "action": Field("str"),
        "status": Field("str"),
        "total_amount": Field("decimal"),
        "balance_due": Field("decimal"),
        "currency": Field("str"),
        "due_date": Field("date"),
    },
    EntryKind.PAYMENT: {
        "invoice_id": Field("int", minimum=1),
        "invoice_number": _text(),
        "amount": Field("decimal"),
        "currency": Field("str"),
        "method": Field("str"),
        "paid_at": Field("datetime"),
        "reference": _text(),
    },
    EntryKind.EVENT: {
        "event_id": _text(),
        "event_type": Field("str"),
        "action": Field("str"),
        "start": Field("datetime"),
        "end": Field("datetime"),
        "location": _text(),
        "outcome": _text(),
        "response": Field("str"),
    },
}


def payload_validate(kind: str, payload) -> dict:
    """The cleaned payload for ``kind``; raises PayloadError naming each bad field."""
    errors: dict[str, list[str]] = {}
    cleaned = _clean_object(SCHEMAS[kind], {} if payload is None else payload, "", errors, kind=kind)
    if errors:
        raise PayloadError(errors)
    return cleaned


def payload_duration_seconds(kind: str, payload: dict) -> int | None:
    """The duration stats average over, kept in a real column (docs/performance.md: not from jsonb)."""
    if kind == EntryKind.CALL and payload.get("duration_seconds") is not None:
        return payload["duration_seconds"]
    if kind == EntryKind.MEETING and payload.get("actual_duration_minutes") is not None:
        return payload["actual_duration_minutes"] * 60
    return None


def searchable_keys() -> list[str]:
    """Top-level payload keys whose text the search document includes (any kind)."""
    return sorted(
        {
            key
            for schema in SCHEMAS.values()
            for key, spec in schema.items()
            if spec.searchable or (spec.items is not None and spec.items.searchable)
        }
    )
