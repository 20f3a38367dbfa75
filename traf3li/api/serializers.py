"""Serializer bases shared by every app's API."""

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
