import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy import services
from privacy.api.serializers import ErasureSerializer, ExportQuerySerializer, ExportSerializer, SubjectInputSerializer
from traf3li.api.permissions import IsFirmAdmin


class ZipRenderer(BaseRenderer):
    """``?format=zip`` (DRF reads ``format`` to pick a renderer): the view answers the zip itself;
    anything else rendered this way (an error) goes out as JSON."""

    media_type = "application/zip"
    format = "zip"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if renderer_context and (response := renderer_context.get("response")) is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data, cls=DjangoJSONEncoder).encode()


class PrivacyEraseView(APIView):
    """Erase a contact, client or lead everywhere the firm holds their data. Admins only."""

    answers_conflict = True  # a legal hold blocks the erasure (409)

    permission_classes = [IsFirmAdmin]

    @extend_schema(request=SubjectInputSerializer, responses=ErasureSerializer)
    def post(self, request):
        """Anonymise the person in one transaction (409 under legal hold); the audit chain still verifies."""
        serializer = SubjectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.subject_erase(subject=serializer.validated_data["subject"], actor=request.user))


class PrivacyExportView(APIView):
    """Everything the firm holds about a contact, client or lead, as JSON or a zip. Admins only."""

    permission_classes = [IsFirmAdmin]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, ZipRenderer]
    answers_not_found = True  # an unknown ?format= (DRF's negotiation) is a 404

    @extend_schema(
        parameters=[
            OpenApiParameter("subject", OpenApiTypes.STR, required=True, description='"client:42"'),
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "zip"], description="zip: one file per model and a manifest"
            ),
        ],
        responses={200: ExportSerializer, (200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export = services.subject_export(subject=query.validated_data["subject"], actor=request.user)
        if query.validated_data["format"] == "zip":
            response = HttpResponse(services.export_zip(export), content_type="application/zip")
            name = export["subject"]["type"] + "-" + str(export["subject"]["id"])
            response["Content-Disposition"] = f'attachment; filename="privacy-export-{name}.zip"'
            return response
        return Response(export)
