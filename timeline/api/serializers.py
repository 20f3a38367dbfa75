from django.utils.translation import gettext_lazy
from rest_framework import serializers

from timeline.choices import EntryKind, EntrySource
from timeline.schemas import PayloadError, payload_validate
from traf3li.api.bounds import MAX_TEXT
from traf3li.api.fields import MomentField, SubjectField
from traf3li.users.models import User

MAX_RELATED = 20
ERROR_FIXED = gettext_lazy("This field can't be changed after the entry is recorded.")
ERROR_PERFORMER = gettext_lazy("Only an admin may record an entry as performed by someone else.")
# The sources an SPA can honestly claim. Provider sources (twilio, sendgrid…) and system are written
# by the channel services alone: an entry posted as one would take its (source, external_id), and
# the genuine webhook arriving later would be a silent no-op.
API_SOURCES = (EntrySource.MANUAL, EntrySource.IMPORT)


class EntryWriteSerializer(serializers.Serializer):
    """What POST and PATCH accept; responses are rendered by ``selectors.ENTRY_JSON``."""

    kind = serializers.ChoiceField(choices=EntryKind.choices)
    subject = SubjectField()
    related = serializers.ListField(child=SubjectField(), required=False, max_length=MAX_RELATED)
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    occurred_at = MomentField(required=False)
    performed_by = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="Defaults to the caller. Only an admin may name another user (or null, nobody).",
    )
    status = serializers.CharField(required=False, allow_blank=True, max_length=32)
    source = serializers.ChoiceField(
        choices=[(source.value, source.label) for source in API_SOURCES],
        default=EntrySource.MANUAL,
        help_text="'manual' or 'import'. Channel sources (twilio, sendgrid…) and 'system' are recorded "
        "by their webhooks and services only; entries read back may carry any source.",
    )
    external_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    payload = serializers.JSONField(required=False)

    def validate_performed_by(self, user):
        caller = self.context["request"].user
        unchanged = self.instance is not None and self.instance.performed_by_id == getattr(user, "pk", None)
        if user != caller and not unchanged and not caller.is_firm_admin:
            raise serializers.ValidationError(ERROR_PERFORMER)
        return user

    def validate(self, attrs):
        if self.instance is not None:
            fixed = {"source", "external_id"} & set(self.initial_data)
            if fixed:
                raise serializers.ValidationError({name: [ERROR_FIXED] for name in sorted(fixed)})
            attrs.pop("source", None)  # the create-time default must not reach an update
        if "payload" in attrs or "kind" in attrs:
            kind = attrs.get("kind") or self.instance.kind
            payload = attrs.get("payload", self.instance.payload if self.instance is not None else {})
            try:
                attrs["payload"] = payload_validate(kind, payload)
            except PayloadError as exc:
                raise serializers.ValidationError({"payload": exc.errors})
        return attrs


class SubjectOutSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.IntegerField()
    name = serializers.CharField()


class PerformerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class EntryReadSerializer(serializers.Serializer):
    """The contract's entry, for the OpenAPI schema (lists render rows directly, see selectors)."""

    id = serializers.IntegerField()
    activity_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    subject = SubjectOutSerializer()
    related = SubjectOutSerializer(many=True)
    title = serializers.CharField()
    description = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    performed_by = PerformerSerializer(allow_null=True)
    status = serializers.CharField()
    source = serializers.ChoiceField(choices=EntrySource.choices)
    external_id = serializers.CharField(allow_null=True)
    payload = serializers.JSONField()
    created_at = serializers.DateTimeField()


class CommunicationStatSerializer(serializers.Serializer):
    kind = serializers.CharField()
    count = serializers.IntegerField()
    avg_duration_minutes = serializers.FloatField(allow_null=True)


class EntryStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())
    by_subject_type = serializers.DictField(child=serializers.IntegerField())
    communications = CommunicationStatSerializer(many=True)
