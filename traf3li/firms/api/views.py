from drf_spectacular.utils import extend_schema
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.views import FirmViewSetMixin
from traf3li.firms.api.serializers import FirmSettingsSerializer
from traf3li.firms.services import firm_update


class FirmSettingsView(FirmViewSetMixin, APIView):
    """``GET /api/v1/firm/`` for every user of the firm (``retention`` for its admins only); ``PATCH``
    for its admins (audited)."""

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticated()]
        return [IsFirmAdmin()]

    @extend_schema(responses=FirmSettingsSerializer)
    def get(self, request):
        data = FirmSettingsSerializer(request.tenant).data
        if not IsFirmAdmin().has_permission(request, self):
            data.pop("retention")  # the retention settings are the admins' (the contract)
        return Response(data)

    @extend_schema(request=FirmSettingsSerializer, responses=FirmSettingsSerializer)
    def patch(self, request):
        serializer = FirmSettingsSerializer(request.tenant, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        firm = firm_update(firm=request.tenant, data=serializer.validated_data, actor=request.user)
        return Response(FirmSettingsSerializer(firm).data)
