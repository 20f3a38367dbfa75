from django.http import Http404
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from audit import selectors
from audit.api.serializers import AuditEventSerializer, StateQuerySerializer, VerifySerializer
from audit.filtersets import AuditEventFilterSet, CaseHistoryFilterSet
from audit.models import AuditEvent
from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.views import FirmReadOnlyViewSet, FirmViewSetMixin
from traf3li.core.subjects import SubjectError, subject_model, subject_parse

ERROR_NO_STATE = gettext_lazy("This record did not exist at that time (no audit event up to then).")
ERROR_NO_CASE = gettext_lazy("No case with this id, and no history for it.")
MAX_BIGINT = 2**63 - 1
STATE_SCHEMA = {
    "type": "object",
    "additionalProperties": True,
    "description": 'The record\'s fields as they stood at `at`, or `{"deleted": true}` after its deletion.',
}


class AuditEventViewSet(FirmReadOnlyViewSet):
    """The firm's audit log, newest first. Admins only."""

    permission_classes = [IsFirmAdmin]
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    keyset = ("occurred_at", "id")

    def get_queryset(self):
        return selectors.event_list()

    @extend_schema(
        responses=VerifySerializer,
        filters=False,
        parameters=[
            OpenApiParameter(
                "full",
                OpenApiTypes.BOOL,
                description="Walk every event (true), not only those after the last sound verify (the default).",
            )
        ],
    )
    @action(detail=False, filter_backends=[], pagination_class=None)
    def verify(self, request):
        """Walk the firm's hash chain: ``{"ok": true, "checked": n}`` or the first broken link.

        By default from the last event a verify found sound (``checked`` counts what was walked
        this time), erasures always checked in full; ``?full=true`` walks from the first event."""
        full = request.query_params.get("full", "").lower() in ("1", "true", "yes")
        return Response(selectors.chain_verify(incremental=not full).as_dict())

    @extend_schema(
        parameters=[
            OpenApiParameter("entity", OpenApiTypes.STR, required=True, description="The record, e.g. case:7."),
            OpenApiParameter("at", OpenApiTypes.DATETIME, required=True, description="ISO-8601 instant."),
        ],
        responses={200: STATE_SCHEMA},
        filters=False,
    )
    @action(detail=False, filter_backends=[], pagination_class=None)
    def state(self, request):
        """The record as it stood at ``at``, rebuilt from its events; 404 before it existed."""
        query = StateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            entity = subject_parse(query.validated_data["entity"])
        except SubjectError as exc:
            raise ValidationError({"entity": [str(exc)]})
        result = selectors.entity_state_at(entity=entity, at=query.validated_data["at"])
        if result is None:
            raise NotFound(ERROR_NO_STATE)
        if result.deleted:
            return Response({"deleted": True})
        fields = selectors.state_as_fields(entity.type, result.state)
        # Events store times as UTC text; answer them as every other endpoint does, in the firm's offset.
        moment = serializers.DateTimeField()
        for name in selectors.state_datetime_names(entity.type):
            try:
                value = parse_datetime(fields[name]) if isinstance(fields.get(name), str) else None
            except ValueError:
                value = None  # not a time we wrote: shown as stored
            if value is not None and value.tzinfo is not None:
                fields[name] = moment.to_representation(value)
        return Response(fields)


class CaseHistoryView(FirmViewSetMixin, generics.ListAPIView):
    """The case-scoped log: changes to the case and to its entries, activities, events, invoices…"""

    permission_classes = [IsFirmAdmin]
    serializer_class = AuditEventSerializer
    filterset_class = CaseHistoryFilterSet
    keyset = ("occurred_at", "id")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI generator has no case id
            return AuditEvent.objects.none()
        return selectors.case_history(case_id=self.kwargs["pk"])

    def list(self, request, *args, **kwargs):
        pk = kwargs["pk"]
        # A deleted case keeps its history; only a case that never left a trace is 404.
        if pk > MAX_BIGINT or not (
            subject_model("case")._default_manager.filter(pk=pk).exists() or self.get_queryset().exists()
        ):
            raise Http404(ERROR_NO_CASE)
        return super().list(request, *args, **kwargs)
