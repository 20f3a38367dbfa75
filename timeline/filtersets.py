"""The timeline's filters, shared by the firm-wide stream, the 360° views, stats and the admin.

The FilterSet validates and documents the query string; ``selectors.entry_filter`` applies it to
either base query (entries, or one subject's links) so both read paths filter alike.
"""

import copy
from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from timeline.choices import EntryKind, EntrySource
from timeline.models import Entry
from timeline.rollups import firm_tz
from traf3li.api.bounds import MAX_LINE, day_error, moment_error
from traf3li.api.filters import ChoiceInFilter, IdInFilter, SubjectFilter

ERROR_MOMENT = gettext_lazy(
    "Use an ISO-8601 date-time with an offset, or a date (YYYY-MM-DD, a whole day in the firm's timezone)."
)


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``?status=sent,read``."""


class MomentField(forms.CharField):
    """A date-time with offset, or a date meaning the firm-local midnight that starts it."""

    def __init__(self, *args, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            # A bare date first: parse_datetime would read it as a naive midnight.
            day = parse_date(value)
            moment = None if day else parse_datetime(value)
        except ValueError:
            moment = day = None
        if moment is not None:
            if moment.tzinfo is None:
                raise forms.ValidationError(ERROR_MOMENT)
            error = moment_error(moment)
            if error:
                raise forms.ValidationError(error)
            return moment
        if day is None:
            raise forms.ValidationError(ERROR_MOMENT)
        # Checked before the day is turned into an instant or moved on by one.
        error = day_error(day)
        if error:
            raise forms.ValidationError(error)
        # ``until=2026-01-31`` includes the whole of the 31st.
        if self.end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=firm_tz())


@extend_schema_field(OpenApiTypes.STR)
class MomentFilter(django_filters.Filter):
    field_class = MomentField


@extend_schema_field(OpenApiTypes.STR)
class EntrySubjectFilter(SubjectFilter):
    """``?subject=client:42``, documented as the string it is."""


class ShallowCopiedFilters(dict):
    """A FilterSet's ``base_filters`` that each request copies shallowly. django-filter deep-copies
    every filter per instance (about 400 copy calls here, a tenth of a 360° page's Python) only
    to point the copies at that instance; a shallow copy of each does the same job."""

    def __deepcopy__(self, memo):
        return {name: copy.copy(filter_) for name, filter_ in self.items()}


class EntryFilterSet(django_filters.FilterSet):
    subject = EntrySubjectFilter(
        help_text="'client:42': that record's 360° view (its own, related and children's entries)."
    )
    subject_type = CharInFilter(help_text="The entry's own subject type, comma-separated: 'contact,case'.")
    kind = ChoiceInFilter(choices=EntryKind.choices, help_text="Comma-separated kinds: 'call,email'.")
    performed_by = IdInFilter(help_text="User ids (1 or more), comma-separated.")
    since = MomentFilter(help_text="Occurred at or after. A date means the firm-local start of that day.")
    until = MomentFilter(end_of_day=True, help_text="Occurred before. A date includes that whole firm-local day.")
    status = CharInFilter()
    source = ChoiceInFilter(choices=EntrySource.choices)
    q = django_filters.CharFilter(
        max_length=MAX_LINE, help_text="Full-text search, English (stemmed) and Arabic (normalised)."
    )

    class Meta:
        model = Entry
        fields = ["subject", "subject_type", "kind", "performed_by", "since", "until", "status", "source", "q"]

    @classmethod
    def applies_to(cls, query_params) -> bool:
        """Whether the query string names any of the filters (with none, the FilterSet changes nothing)."""
        return any(name in query_params for name in cls.base_filters)

    def get_form_class(self):
        # django-filter builds a new form class for every request; the filters never change, so
        # build it once (it was a third of a stream page's Python time).
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_queryset(self, queryset):
        from timeline.selectors import entry_filter

        return entry_filter(queryset, **{k: v for k, v in self.form.cleaned_data.items() if v not in (None, "", [])})


EntryFilterSet.base_filters = ShallowCopiedFilters(EntryFilterSet.base_filters)
