import django_filters
from django.contrib.contenttypes.models import ContentType
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from timeline.activities import selectors
from timeline.activities.choices import ActivityState, Due
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, ActivityType, Notification
from traf3li.api.bounds import MAX_LINE
from traf3li.api.filters import ChoiceInFilter, DayFilter, IdFilter, IdInFilter, SubjectFilter


class ActivityTypeFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=MAX_LINE)

    class Meta:
        model = ActivityType
        fields = ["name", "chaining", "delay_unit"]


class ActivityFilterSet(django_filters.FilterSet):
    subject = SubjectFilter(method="filter_subject", help_text="'<type>:<id>', e.g. client:42.")
    state = ChoiceInFilter(choices=ActivityState.choices)
    assignee = IdInFilter(field_name="assignee_id")
    type = IdInFilter(field_name="type_id")
    due = ChoiceInFilter(
        choices=Due.choices,
        method="filter_due",
        help_text="Scheduled activities overdue, due today or planned, by the firm's today.",
    )
    deadline_after = DayFilter(field_name="deadline", lookup_expr="gte")
    deadline_before = DayFilter(field_name="deadline", lookup_expr="lte")
    automated = django_filters.BooleanFilter()
    chained_from = IdFilter(field_name="chained_from_id")

    class Meta:
        model = Activity
        fields = ["subject", "state", "assignee", "type", "due", "deadline_after", "deadline_before"]

    @extend_schema_field(OpenApiTypes.STR)
    def filter_subject(self, queryset, name, ref):
        if ref is None:
            return queryset
        return queryset.filter(subject_content_type=ContentType.objects.get_for_model(ref.model), subject_id=ref.id)

    def filter_due(self, queryset, name, values):
        if not values:
            return queryset
        return selectors.activity_filter_due(queryset, values, today=firm_today())


class NotificationFilterSet(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(field_name="read_at", lookup_expr="isnull", help_text="Only unread ones.")

    class Meta:
        model = Notification
        fields = ["unread", "kind"]
