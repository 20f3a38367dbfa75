from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from timeline import selectors, services
from timeline.api.renderers import ORJSONRenderer
from timeline.api.serializers import EntryReadSerializer, EntryStatsSerializer, EntryWriteSerializer
from timeline.filtersets import EntryFilterSet
from timeline.models import EntryLink
from traf3li.api.views import FirmModelViewSet, FirmViewSetMixin
from traf3li.core.subjects import SubjectRef, subject_model

LINK_KEYSET = ("occurred_at", "entry_id")
# Stats take the stream's filters; documented by hand since stats are not a list.
STATS_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.STR, description=str(spec.extra.get("help_text", "")))
    for name, spec in EntryFilterSet.base_filters.items()
]


class EntryFilterBackend(DjangoFilterBackend):
    """The entry FilterSet also filters a subject's link rows (``selectors.entry_filter``)."""

    def get_filterset_class(self, view, queryset=None):
        return view.filterset_class

    def filter_queryset(self, request, queryset, view):
        # A query string naming no filter (a 360° page, perhaps with a cursor) filters nothing: no
        # FilterSet and no form to build. One that names any is validated as ever (400 on junk).
        if not view.filterset_class.applies_to(request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)


class EntryListMixin:
    """A lean list: one query per page, each row's JSON built by PostgreSQL, spliced in by orjson."""

    filterset_class = EntryFilterSet
    filter_backends = [EntryFilterBackend]
    renderer_classes = [ORJSONRenderer, BrowsableAPIRenderer]
    keyset = ("occurred_at", "id")

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if queryset.model is EntryLink:  # a subject's view pages on the link rows' own key
            self.keyset = LINK_KEYSET
        return queryset

    @extend_schema(responses=EntryReadSerializer(many=True))
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        rows = self.paginate_queryset(selectors.entry_values(queryset))
        if not rows:
            self.check_subject_exists()
        return self.get_paginated_response(selectors.entry_page(rows))

    def check_subject_exists(self):
        """A view with rows is about a record that exists; only an empty one needs asking (404)."""


class EntryViewSet(EntryListMixin, FirmModelViewSet):
    """The firm-wide stream (``?subject=`` narrows it to one 360° view) and single entries."""

    answers_conflict = True  # a deleted entry is not replayed, a held subject not changed (409)

    serializer_class = EntryWriteSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.entry_stream()

    def get_object(self):
        # The detail routes take the entry as it is, whatever the stream's query filters say.
        entry = self.get_queryset().filter(pk=self.kwargs["pk"]).first() if self.kwargs["pk"].isdigit() else None
        if entry is None:
            raise Http404
        return entry

    @extend_schema(responses={200: EntryReadSerializer})
    def retrieve(self, request, *args, **kwargs):
        return Response(selectors.entry_document(self.get_object().pk))

    @extend_schema(
        request=EntryWriteSerializer,
        responses={201: EntryReadSerializer},
        description="Record an entry by hand or from an import: `source` is `manual` (the default) or `import`; "
        "channels' entries come from their webhooks. `performed_by` is the caller unless an admin names "
        "another user.",
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.setdefault("performed_by", request.user)
        entry = services.entry_record(**data, actor=request.user)
        return Response(selectors.entry_document(entry.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=EntryWriteSerializer,
        responses={200: EntryReadSerializer},
        description="Change what an entry says. `source` and `external_id` are fixed; only an admin may set "
        "`performed_by` to someone other than the caller.",
    )
    def partial_update(self, request, *args, **kwargs):
        entry = self.get_object()
        serializer = self.get_serializer(entry, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        entry = services.entry_update(entry=entry, data=dict(serializer.validated_data), actor=request.user)
        return Response(selectors.entry_document(entry.pk))

    def destroy(self, request, *args, **kwargs):
        services.entry_delete(entry=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=STATS_PARAMETERS, responses=EntryStatsSerializer)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def stats(self, request):
        filterset = EntryFilterSet(request.query_params, queryset=selectors.entry_stream())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        filters = {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "", [])}
        return Response(selectors.entry_stats(filters=filters))


class SubjectTimelineView(EntryListMixin, FirmViewSetMixin, generics.ListAPIView):
    """``/api/v1/<clients|contacts|…>/{id}/timeline/``: one record's 360° view, newest first."""

    serializer_class = EntryReadSerializer  # documents the rows; the list renders them in SQL
    subject_type: str = ""
    keyset = LINK_KEYSET

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI generator has no pk
            return EntryLink.objects.none()
        return selectors.entry_subject_view(SubjectRef(self.subject_type, self.kwargs["pk"]))

    @extend_schema(responses=EntryReadSerializer(many=True))
    def list(self, request, *args, **kwargs):
        if self.filterset_class.applies_to(request.query_params):
            return super().list(request, *args, **kwargs)
        # No filter: the page by one written-out statement (``selectors.entry_subject_page``).
        paginator = self.paginator
        size, raw, key, reverse = paginator.window(request, self, is_datetime=True)
        ref = SubjectRef(self.subject_type, self.kwargs["pk"])
        rows = selectors.entry_subject_page(ref, key=key, reverse=reverse, limit=size + 1)
        rows = paginator.page_of(rows, size=size, raw=raw, reverse=reverse)
        if not rows:
            self.check_subject_exists()
        return self.get_paginated_response(selectors.entry_page(rows))

    def check_subject_exists(self):
        if not subject_model(self.subject_type)._default_manager.filter(pk=self.kwargs["pk"]).exists():
            raise Http404
