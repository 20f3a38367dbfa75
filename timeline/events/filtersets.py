import django_filters

from timeline.events.choices import EventStatus, EventType
from timeline.events.models import Event
from traf3li.api.filters import ChoiceInFilter, IdFilter, IdInFilter, MomentFilter


class EventFilterSet(django_filters.FilterSet):
    """The firm's events (series, single events and overrides) by case, type, status, people and time."""

    case = IdInFilter(field_name="case_id")
    type = ChoiceInFilter(choices=EventType.choices)
    status = ChoiceInFilter(choices=EventStatus.choices)
    organizer = IdInFilter(field_name="organizer_id")
    attendee = IdFilter(method="filter_attendee", help_text="A user id: events that user is invited to.")
    start_after = MomentFilter(field_name="start_at", lookup_expr="gte")
    start_before = MomentFilter(field_name="start_at", lookup_expr="lt")
    recurring = django_filters.BooleanFilter(method="filter_recurring", help_text="Only series (or only not).")

    class Meta:
        model = Event
        fields = ["case", "type", "status", "organizer", "attendee", "start_after", "start_before", "recurring"]

    def filter_attendee(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(attendees__user_id=value)

    def filter_recurring(self, queryset, name, value):
        if value is None:
            return queryset
        series = queryset.exclude(rrule="") | queryset.exclude(rdates=[])
        return series if value else queryset.filter(rrule="", rdates=[])
