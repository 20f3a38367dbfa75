"""Exact money input: decimal strings (or whole JSON numbers), never floats, exponents or a third decimal."""

import re
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

ERROR_FLOAT = _('Write amounts as decimal strings such as "150.00": a JSON number with a fraction is not exact.')
ERROR_FORMAT = _('A decimal such as "150.00": digits, at most 2 decimal places, no exponent.')
ERROR_TOO_LARGE = _("At most {digits} digits before the decimal point.")


@extend_schema_field({"type": "string", "format": "decimal", "example": "150.00", "pattern": r"^\d+(\.\d{1,2})?$"})
class ExactDecimalField(serializers.Field):
    """A non-negative amount with at most two decimals, read exactly from its text (ADR 0040).

    A JSON number with a fraction or an exponent reaches the parser as a float, already rounded
    in binary: refused, whatever its value. Whole JSON numbers are exact and accepted.
    """

    def __init__(self, *, max_whole_digits: int = 12, **kwargs):
        self.max_whole_digits = max_whole_digits
        self.pattern = re.compile(r"^\d+(\.\d{1,2})?$")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float):
            raise serializers.ValidationError(ERROR_FLOAT, code="float")
        if isinstance(data, int) and not isinstance(data, bool) and data >= 0:
            data = str(data)
        if not isinstance(data, str) or not self.pattern.match(data.strip()):
            raise serializers.ValidationError(ERROR_FORMAT, code="invalid")
        text = data.strip()
        if len(text.partition(".")[0].lstrip("0")) > self.max_whole_digits:
            raise serializers.ValidationError(ERROR_TOO_LARGE.format(digits=self.max_whole_digits), code="max_digits")
        return Decimal(text)

    def to_representation(self, value):
        return f"{value:.2f}"
