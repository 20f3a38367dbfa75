from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEvent
from traf3li.api.fields import MomentField

ACTOR_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["user", "system", "platform"]},
        "id": {"type": "integer", "nullable": True},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "role": {"type": "string"},
    },
}
ENTITY_SCHEMA = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "id": {"type": "integer"}, "name": {"type": "string"}},
}


class AuditEventSerializer(serializers.ModelSerializer):
    """One event, read from its own denormalised columns: no joins, no queries per row."""

    actor = serializers.SerializerMethodField()
    entity = serializers.SerializerMethodField()
    case = serializers.IntegerField(source="case_id", allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "occurred_at",
            "actor",
            "action",
            "entity",
            "case",
            "changes",
            "metadata",
            "erased_at",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields

    @extend_schema_field(ACTOR_SCHEMA)
    def get_actor(self, event: AuditEvent) -> dict:
        return {
            "type": event.actor_type,
            "id": event.actor_id,
            "name": event.actor_name,
            "email": event.actor_email,
            "role": event.actor_role,
        }

    @extend_schema_field(ENTITY_SCHEMA)
    def get_entity(self, event: AuditEvent) -> dict:
        return {"type": event.entity_type, "id": event.entity_id, "name": event.entity_name}


class VerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField(help_text="Events verified before the first broken link, or all of them.")
    event_id = serializers.IntegerField(required=False, allow_null=True, help_text="The first broken event.")
    seq = serializers.IntegerField(required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_null=True)


class StateQuerySerializer(serializers.Serializer):
    entity = serializers.CharField(help_text="The record, e.g. case:7.")
    at = MomentField(help_text="ISO-8601 with offset; the state at that instant.")
