from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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
