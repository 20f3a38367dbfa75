import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy import export as stored_exports
from privacy import services
from privacy.api.serializers import (
    AsyncInputSerializer,
    ErasureSerializer,
    ErasureStatusSerializer,
    ExportQuerySerializer,
    ExportSerializer,
    ExportStatusSerializer,
)
from traf3li.api.permissions import IsFirmAdmin
from traf3li.core.subjects import subject_parse


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

    @extend_schema(request=AsyncInputSerializer, responses={200: ErasureSerializer, 202: ErasureStatusSerializer})
    def post(self, request):
        """Anonymise the person in one transaction (409 under legal hold); the audit chain still verifies.
        A large subject (or ``async: true``) is queued: 202 with a status URL (``Location`` too)."""
        serializer = AsyncInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subject = serializer.validated_data["subject"]
        if in_a_task(serializer.validated_data):
            stored = stored_exports.erasure_request(subject=subject, actor=request.user)
            return accepted(erasure_status(request, stored))
        return Response(services.subject_erase(subject=subject, actor=request.user))


def in_a_task(query: dict) -> bool:
    """Whether the export or erasure runs in a task: asked for (``async``), or a large subject."""
    return query["async"] or stored_exports.export_is_large(subject_parse(query["subject"], public_only=True))


def accepted(body: dict) -> Response:
    """202: queued; the body is the job's status, at its status URL (``Location`` too)."""
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


def erasure_status(request, stored) -> dict:
    status_url = request.build_absolute_uri(reverse("privacy-api:erase-status", kwargs={"erasure_id": stored.id}))
    fields = ("id", "status", "subject", "requested_at", "finished_at", "expires_at", "result", "error")
    return {**{name: getattr(stored, name) for name in fields}, "status_url": status_url}


class PrivacyEraseStatusView(APIView):
    """A queued erasure's status; what it redacted once done. Admins only."""

    permission_classes = [IsFirmAdmin]

    @extend_schema(operation_id="privacy_erase_status", responses=ErasureStatusSerializer)
    def get(self, request, erasure_id):
        stored = stored_exports.export_load(erasure_id, stored_exports.ERASURE)
        if stored is None:
            raise NotFound()
        return Response(erasure_status(request, stored))


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
            OpenApiParameter(
                "async", OpenApiTypes.BOOL, description="true: made by a task (202) even for a small subject"
            ),
        ],
        responses={
            200: ExportSerializer,
            (200, "application/zip"): OpenApiTypes.BINARY,
            202: ExportStatusSerializer,
        },
    )
    def get(self, request):
        """Small subjects are answered here (200); a large one, or ``async=true``, is queued: 202 with
        a status URL (``Location`` too), whose ``download_url`` appears once the task made the file."""
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        subject, format = query.validated_data["subject"], query.validated_data["format"]
        if in_a_task(query.validated_data):
            stored = stored_exports.export_request(subject=subject, actor=request.user, format=format)
            return accepted(export_status(request, stored))
        export = services.subject_export(subject=subject, actor=request.user)
        if format == "zip":
            response = HttpResponse(services.export_zip(export), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{export_filename(export["subject"])}.zip"'
            return response
        return Response(export)


def export_filename(subject) -> str:
    """``privacy-export-contact-5`` for ``{"type": "contact", "id": 5}`` or ``"contact:5"``."""
    ref = subject_parse(subject)
    return f"privacy-export-{ref.type}-{ref.id}"


def export_status(request, stored) -> dict:
    # Django's reverse: DRF's would carry the request's ``?format=zip`` over to these URLs.
    status_url = request.build_absolute_uri(reverse("privacy-api:export-status", kwargs={"export_id": stored.id}))
    download_url = None
    if stored.status == stored_exports.DONE:
        token = stored_exports.export_link(stored)
        download_url = request.build_absolute_uri(reverse("privacy-api:export-download", kwargs={"token": token}))
    fields = ("id", "status", "subject", "format", "requested_at", "finished_at", "expires_at", "size", "sha256")
    return {
        **{name: getattr(stored, name) for name in fields},
        "status_url": status_url,
        "download_url": download_url,
    }


class PrivacyExportStatusView(APIView):
    """A queued export's status; its signed download URL once it is done. Admins only."""

    permission_classes = [IsFirmAdmin]

    @extend_schema(operation_id="privacy_export_status", responses=ExportStatusSerializer)
    def get(self, request, export_id):
        stored = stored_exports.export_load(export_id)
        if stored is None:
            raise NotFound()
        return Response(export_status(request, stored))


class PrivacyExportDownloadView(APIView):
    """A finished export's file. The link is the key: signed, this firm's host only, until it expires
    (410 after); a forged or foreign link is a 404."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="privacy_export_download",
        responses={(200, "application/zip"): OpenApiTypes.BINARY, (200, "application/json"): OpenApiTypes.BINARY},
    )
    def get(self, request, token):
        try:
            stored = stored_exports.export_from_link(token)
        except stored_exports.ExportLinkError as error:
            if error.expired:
                return Response({"detail": str(error)}, status=status.HTTP_410_GONE)
            raise NotFound(str(error))
        name, content_type = stored_exports.FORMATS[stored.format]
        response = FileResponse(
            stored.file.open("rb"),
            content_type=content_type,
            as_attachment=True,
            filename=f"{export_filename(stored.subject)}.{stored.format}",
        )
        # The URL is the key: no cache keeps the file, no page it links to learns the URL.
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response
