from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from timeline.activities.models import Activity, ActivityType, Notification
from traf3li.api.fields import SUBJECT_SCHEMA, DayField, SubjectField
from traf3li.api.serializers import ModelSerializer
from traf3li.core.subjects import SubjectError, subject_dict, subject_type_of
from traf3li.users.models import User

ERROR_USE_ACTION = gettext_lazy("Change this with the {action} action.")
MAX_UPCOMING_DAYS = 366


class ActivityTypeSerializer(ModelSerializer):
    class Meta:
        model = ActivityType
        fields = [
            "id",
            "name",
            "icon",
            "delay_count",
            "delay_unit",
            "chaining",
            "next_type",
            "default_summary",
            "created_at",
            "updated_at",
        ]


# An activity outlives its subject (history stays): a deleted subject is still named by type and id,
# its name null. The schema says so, or clients that trust it break on such a row.
ACTIVITY_SUBJECT_SCHEMA = {
    **SUBJECT_SCHEMA,
    "properties": {
        **SUBJECT_SCHEMA["properties"],
        "name": {"type": "string", "readOnly": True, "nullable": True, "description": "null once it is deleted."},
    },
}


@extend_schema_field(ACTIVITY_SUBJECT_SCHEMA)
class ActivitySubjectField(SubjectField):
    """Also names a subject that has since been deleted: ``{"type", "id", "name": null}``."""

    def get_attribute(self, instance):
        return instance

    def to_representation(self, activity):
        if activity.subject is not None:
            return subject_dict(activity.subject)
        model = activity.subject_content_type.model_class()
        try:
            type_name = subject_type_of(model)
        except SubjectError:
            type_name = activity.subject_content_type.model
        return {"type": type_name, "id": activity.subject_id, "name": None}


class ActivitySerializer(ModelSerializer):
    subject = ActivitySubjectField()
    type = serializers.PrimaryKeyRelatedField(queryset=ActivityType.objects.all())
    type_name = serializers.CharField(source="type.name", read_only=True)
    type_icon = serializers.CharField(source="type.icon", read_only=True)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, help_text="Defaults to the requesting user."
    )
    assignee_name = serializers.CharField(source="assignee.display_name", read_only=True)
    deadline = DayField(required=False, help_text="Defaults from the type's delay.")
    chained_from = serializers.PrimaryKeyRelatedField(
        queryset=Activity.objects.all(),
        required=False,
        allow_null=True,
        help_text="The activity this one follows from, e.g. when accepting a suggestion from /complete/.",
    )
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = Activity
        fields = [
            "id",
            "subject",
            "type",
            "type_name",
            "type_icon",
            "summary",
            "note",
            "assignee",
            "assignee_name",
            "deadline",
            "state",
            "done_at",
            "feedback",
            "chained_from",
            "automated",
            "is_overdue",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["state", "done_at", "feedback", "automated", "created_by"]

    def get_is_overdue(self, activity) -> bool:
        return activity.is_overdue_on(self.context["today"])

    def validate(self, attrs):
        if self.instance is not None:
            # An edit changes what the activity says; moving it through its life has actions (409s).
            actions = {"deadline": "reschedule", "assignee": "reassign", "state": "complete or cancel"}
            actions |= {name: "cancel and schedule" for name in ("type", "subject", "chained_from")}
            errors = {
                name: [ERROR_USE_ACTION.format(action=action)]
                for name, action in actions.items()
                if name in self.initial_data
            }
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class CompleteSerializer(serializers.Serializer):
    feedback = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


# What a stored activity has and an unsaved suggestion can't: it has no id or times until it is posted.
UNSTORED = ("id", "created_at", "updated_at")


class ActivitySuggestionSerializer(ActivitySerializer):
    """A follow-up a ``suggest`` type proposes: not stored, so no id or times. POST its fields to
    /api/v1/activities/ to schedule it."""

    class Meta(ActivitySerializer.Meta):
        fields = [name for name in ActivitySerializer.Meta.fields if name not in UNSTORED]


class CompletionNextField(serializers.Field):
    """``next``: the scheduled follow-up (an Activity), the suggested one (an ActivitySuggestion), or null."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def get_attribute(self, completion):
        return completion

    def to_representation(self, completion):
        if completion.next is None:
            return None
        serializer = ActivitySuggestionSerializer if completion.next_is_suggestion else ActivitySerializer
        return serializer(completion.next, context=self.context).data


class CompletionNextFieldExtension(OpenApiSerializerFieldExtension):
    target_class = CompletionNextField

    def map_serializer_field(self, auto_schema, direction):
        shapes = [
            auto_schema.resolve_serializer(s, direction).ref for s in (ActivitySerializer, ActivitySuggestionSerializer)
        ]
        return {"anyOf": shapes, "nullable": True, "readOnly": True, "description": CompletionNextField.__doc__}


class CompletionSerializer(serializers.Serializer):
    activity = ActivitySerializer()
    next = CompletionNextField(help_text="The follow-up scheduled or, for a suggest type, suggested.")
    next_kind = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["scheduled", "suggested"], allow_null=True))
    def get_next_kind(self, completion) -> str | None:
        if completion.next is None:
            return None
        return "suggested" if completion.next_is_suggestion else "scheduled"


class RescheduleSerializer(serializers.Serializer):
    deadline = DayField()


class ReassignSerializer(serializers.Serializer):
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))


class StatsQuerySerializer(serializers.Serializer):
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False)


class UpcomingQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=0, max_value=MAX_UPCOMING_DAYS, default=7)


class TypeCountSerializer(serializers.Serializer):
    type = serializers.CharField()
    type_id = serializers.IntegerField()
    count = serializers.IntegerField()


class SubjectTypeCountSerializer(serializers.Serializer):
    subject_type = serializers.CharField()
    count = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    today = serializers.DateField(help_text="The firm's today, in its timezone.")
    overdue_count = serializers.IntegerField()
    today_count = serializers.IntegerField()
    planned_count = serializers.IntegerField()
    done_count = serializers.IntegerField(help_text="Done today or in the six days before, firm-local.")
    total_pending = serializers.IntegerField()
    by_type = TypeCountSerializer(many=True, help_text="Pending activities by type.")
    by_subject_type = SubjectTypeCountSerializer(many=True, help_text="Pending activities by subject type.")


class NotificationSerializer(ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "activity", "bucket", "is_read", "read_at", "created_at"]
        read_only_fields = fields

    def get_is_read(self, notification) -> bool:
        return notification.read_at is not None
