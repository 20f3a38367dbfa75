"""``/api/v1/inbox/unmatched/``: the messages and calls no record matched, and their triage."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import inbox, selectors
from traf3li.api.pagination import KeysetPagination, decode_cursor
from traf3li.api.views import FirmViewSetMixin
from traf3li.core.subjects import SubjectError, subject_parse

INBOX_CHANNELS = ("sms", "whatsapp", "call", "email")
ERROR_CHANNEL = _("Unknown channel '{channel}'. Known channels: {known}.")
ERROR_LINK_TYPE = _("Only these records can be linked: {types}.")


class RowsKeysetPagination(KeysetPagination):
    """Keyset pagination of a list the view builds itself (a UNION, an aggregate).

    The view's ``keyset_rows(after, reverse, limit)`` answers dict rows newest first (oldest first
    when ``reverse``) that carry the ``keyset`` keys; the cursor, page size and links are the
    base class's.
    """

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.ts_field, self.id_field = view.keyset
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        after, reverse = decode_cursor(raw, True) if raw else (None, False)
        rows = view.keyset_rows(after=after, reverse=reverse, limit=size + 1)
        return self.page_of(rows, size=size, raw=raw, reverse=reverse)


class UnmatchedItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["message", "call", "email"])
    id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=INBOX_CHANNELS)
    direction = serializers.CharField()
    address = serializers.CharField(help_text="The counterpart's address: the sender, or the recipient when outbound.")
    preview = serializers.CharField(help_text="A message's first 140 characters; a call's duration in seconds.")
    duration_seconds = serializers.IntegerField(allow_null=True, help_text="Calls only.")
    status = serializers.CharField()
    at = serializers.DateTimeField(help_text="When it was first stored (the list's order).")


class UnmatchedLinkSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=255, help_text="The counterpart's address, as the inbox shows it.")
    subject = serializers.JSONField(help_text='The record: {"type": "client", "id": 42} or "client:42".')


def _channels(request) -> list[str] | None:
    raw = request.query_params.get("channel")
    if not raw:
        return None
    channels = [value.strip() for value in raw.split(",") if value.strip()]
    for channel in channels:
        if channel not in INBOX_CHANNELS:
            raise ValidationError(
                {"channel": [str(ERROR_CHANNEL.format(channel=channel, known=", ".join(INBOX_CHANNELS)))]}
            )
    return channels or None


class UnmatchedListView(FirmViewSetMixin, APIView):
    """Unmatched messages, calls and emails, newest first, for triage (any user of the firm)."""

    pagination_class = RowsKeysetPagination
    keyset = ("at", "key")

    @extend_schema(
        operation_id="inbox_unmatched_list",
        parameters=[
            OpenApiParameter(
                "channel",
                OpenApiTypes.STR,
                description="sms, whatsapp or call; a comma-separated list takes several.",
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The cursor of a previous page's link."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1 to 200; 50 by default."),
        ],
        responses=inline_serializer(
            "UnmatchedPage",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": UnmatchedItemSerializer(many=True),
            },
        ),
    )
    def get(self, request, *args, **kwargs):
        self.channels = _channels(request)
        paginator = self.pagination_class()
        rows = paginator.paginate_queryset(None, request, view=self)
        results = UnmatchedItemSerializer(rows, many=True).data
        return paginator.get_paginated_response(results)

    def keyset_rows(self, *, after, reverse, limit):
        return selectors.unmatched_page(channels=self.channels, after=after, reverse=reverse, limit=limit)


class UnmatchedLinkView(FirmViewSetMixin, APIView):
    """Link an unmatched counterpart to a record: its whole history moves onto that record's timeline."""

    answers_conflict = True  # nothing unmatched has the address (409)

    @extend_schema(
        operation_id="inbox_unmatched_link",
        request=UnmatchedLinkSerializer,
        responses={
            200: inline_serializer(
                "UnmatchedLinked",
                {
                    "messages": serializers.ListField(child=serializers.IntegerField()),
                    "calls": serializers.ListField(child=serializers.IntegerField()),
                    "emails": serializers.ListField(child=serializers.IntegerField()),
                },
            ),
            400: OpenApiResponse(description="No address, or a malformed subject or one that can't be linked."),
            404: OpenApiResponse(description="No such record in this firm."),
            409: OpenApiResponse(description="Nothing unmatched has this address (already linked, or never seen)."),
        },
        description=(
            "Every unmatched message, call and email whose counterpart has `address` (in any provider's "
            "spelling of the number: `+1…`, `whatsapp:+1…`, `1…`; an email address in any case) gets "
            "`subject` and a timeline entry on it, in one "
            "transaction. The record itself is not changed: later messages from the address are matched "
            "once the record has that phone. Answers the ids moved."
        ),
    )
    def post(self, request, *args, **kwargs):
        serializer = UnmatchedLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            ref = subject_parse(data["subject"], public_only=True)
        except SubjectError as exc:
            raise ValidationError({"subject": [str(exc)]})
        if ref.type not in inbox.LINK_TYPES:
            raise ValidationError({"subject": [str(ERROR_LINK_TYPE.format(types=", ".join(inbox.LINK_TYPES)))]})
        try:
            subject = ref.resolve()
        except SubjectError as exc:  # another firm's id names nothing in this firm's schema
            raise NotFound(str(exc)) from exc
        moved = inbox.unmatched_link(address=data["address"], subject=subject, actor=request.user)
        return Response(moved, status=status.HTTP_200_OK)
