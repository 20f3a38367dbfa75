"""Filters shared by every app's FilterSet: subjects, ids, bounded date-times and comma lists."""

import django_filters
from django import forms
from django_filters.fields import BaseCSVField, IsoDateTimeField

from traf3li.api.bounds import ERROR_ID, INT8_MAX, validate_day, validate_moment
from traf3li.core.subjects import SubjectError, subject_parse


class SubjectFormField(forms.CharField):
    public_only = True

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            return subject_parse(value, public_only=self.public_only)
        except SubjectError as exc:
            raise forms.ValidationError(str(exc))


class AnySubjectFormField(SubjectFormField):
    """Also accepts internal types (``user:3``, ``holiday:2``): for the audit log's filters."""

    public_only = False


class SubjectFilter(django_filters.Filter):
    """``?subject=client:42``; the FilterSet method decides what "about this subject" means."""

    field_class = SubjectFormField


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """``?kind=call,email``: each value must be a valid choice, else 400."""


class IdFormField(forms.IntegerField):
    """A row id: a whole number from 1 (0 and -1 name the stat rollups' internal rows) that fits a bigint."""

    default_error_messages = {"invalid": ERROR_ID, "min_value": ERROR_ID, "max_value": ERROR_ID}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=INT8_MAX, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """``?case=7``: compared as a bigint, never as a decimal (``1.5``, ``1e999``)."""

    field_class = IdFormField

    def get_max_validator(self):
        return None  # the field's own bound is the column's


class IdCSVField(BaseCSVField):
    def clean(self, value):
        # Blank items ("3,,4", a trailing comma) are no ids: dropped, rather than reaching SQL as NULL.
        ids = [pk for pk in super().clean(value) or () if pk is not None]
        return ids or None


class IdInFilter(django_filters.BaseInFilter, IdFilter):
    """``?assignee=3,4``: every id as ``IdFilter`` takes it, else 400."""

    base_field_class = IdCSVField


class MomentFormField(IsoDateTimeField):
    default_validators = [validate_moment]


class MomentFilter(django_filters.IsoDateTimeFilter):
    """An ISO-8601 date-time in the range ``traf3li.api.bounds`` keeps safe (no offset past ±15:59)."""

    field_class = MomentFormField


class DayFormField(forms.DateField):
    default_validators = [validate_day]


class DayFilter(django_filters.DateFilter):
    """A date in the range ``traf3li.api.bounds`` keeps safe for date arithmetic."""

    field_class = DayFormField
