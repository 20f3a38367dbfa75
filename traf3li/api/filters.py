"""Filters shared by every app's FilterSet: subjects and comma lists."""

import django_filters
from django import forms

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


class NumberInFilter(django_filters.BaseInFilter, django_filters.NumberFilter):
    """``?assignee=3,4``."""
