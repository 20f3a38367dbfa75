from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy import retention
from privacy.api.retention_serializers import RetentionRunSerializer
from traf3li.api.permissions import IsFirmAdmin


class RetentionDryRunView(APIView):
    """What the daily retention purge would remove now, per table, and what it keeps under legal hold.
    Admins only; nothing changes."""

    permission_classes = [IsFirmAdmin]

    @extend_schema(responses=RetentionRunSerializer)
    def get(self, request):
        return Response(retention.retention_dry_run())
