from datetime import datetime

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from traf3li.api.bounds import moment_error, validate_day
from traf3li.core.subjects import SubjectError, subject_dict, subject_parse

SUBJECT_SCHEMA = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "id": {"type": "integer"}, "name": {"type": "string", "readOnly": True}},
    "required": ["type", "id"],
}


@extend_schema_field(SUBJECT_SCHEMA)
class SubjectField(serializers.Field):
    """Reads ``"client:42"`` or ``{"type": "client", "id": 42}``; writes ``{"type", "id", "name"}``.

    ``to_internal_value`` returns the resolved model instance, so a missing record is a 400.
    """

    def __init__(self, *, types: tuple[str, ...] | None = None, **kwargs):
        self.types = types
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            ref = subject_parse(data, public_only=True)
            if self.types and ref.type not in self.types:
                raise SubjectError(f"Subject type must be one of: {', '.join(self.types)}.")
            return ref.resolve()
        except SubjectError as exc:
            raise serializers.ValidationError(str(exc))

    def to_representation(self, value):
        return subject_dict(value)


class MomentField(serializers.DateTimeField):
    """A date-time in the range ``traf3li.api.bounds`` keeps safe, its offset checked as written."""

    def to_internal_value(self, value):
        written = value
        if isinstance(value, str):
            try:
                written = parse_datetime(value)
            except ValueError:
                written = None  # no such moment (30 February): the parent says so
        # Before the parent converts it to the firm's zone: that conversion overflows near year 1 or
        # 9999, and it hides an offset PostgreSQL would refuse.
        if isinstance(written, datetime):
            error = moment_error(written)
            if error:
                raise serializers.ValidationError(error, code="out_of_range")
        return super().to_internal_value(value)


class DayField(serializers.DateField):
    """A date in the range ``traf3li.api.bounds`` keeps safe for date arithmetic (deadlines, delays)."""

    default_validators = [validate_day]
