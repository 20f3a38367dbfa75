from rest_framework import serializers

from traf3li.api.bounds import MAX_LINE
from traf3li.firms.models import Firm


class FirmSettingsSerializer(serializers.ModelSerializer):
    """The firm's own settings; ``timezone`` is an IANA name (``Asia/Riyadh``), ``language`` ``en``, ``ar`` or blank."""

    class Meta:
        model = Firm
        fields = ["id", "slug", "name", "timezone", "vat_number", "address", "language", "phone_region", "created_at"]
        read_only_fields = ["id", "slug", "created_at"]
        extra_kwargs = {"address": {"max_length": MAX_LINE}}
