"""Serializer bases shared by every app's API."""

import copy

from django.contrib.postgres.fields import ArrayField
from django.db import models
from rest_framework import serializers

from traf3li.api.bounds import MAX_ITEMS, MAX_TEXT
from traf3li.api.fields import DayField, MomentField


def bound_lengths(model_field: models.Field, kwargs: dict) -> dict:
    """A model's unbounded text (TextField) and lists (ArrayField) as input of at most MAX_TEXT
    characters and MAX_ITEMS items (shown in OpenAPI as maxLength, maxItems)."""
    if kwargs.get("read_only") or "max_length" in kwargs:
        return kwargs
    if isinstance(model_field, models.TextField):
        return {**kwargs, "max_length": MAX_TEXT}
    if isinstance(model_field, ArrayField):
        return {**kwargs, "max_length": MAX_ITEMS}
    return kwargs


class ModelSerializer(serializers.ModelSerializer):
    """Model dates and date-times as input in the range ``traf3li.api.bounds`` keeps safe, and
    text and lists no longer than it allows."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: MomentField,
        models.DateField: DayField,
    }

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        return field_class, bound_lengths(model_field, kwargs)


class BuiltOnceMixin:
    """Builds a ModelSerializer's fields from the model once per class, then copies them per use.

    DRF introspects the model for every serializer instance (about half of ``/api/v1/me/``'s time
    in the view). Only for serializers whose fields depend on neither the request nor the instance:
    the copies are fresh, unbound fields, as DRF's own copies of declared fields are.
    """

    _built_fields: dict | None = None

    def get_fields(self):
        cls = type(self)
        if cls.__dict__.get("_built_fields") is None:
            cls._built_fields = super().get_fields()
        return copy.deepcopy(cls._built_fields)
