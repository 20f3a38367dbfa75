"""Serializer bases shared by every app's API."""

import copy

from django.db import models
from rest_framework import serializers

from traf3li.api.fields import DayField, MomentField


class ModelSerializer(serializers.ModelSerializer):
    """Model dates and date-times as input in the range ``traf3li.api.bounds`` keeps safe."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: MomentField,
        models.DateField: DayField,
    }


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
