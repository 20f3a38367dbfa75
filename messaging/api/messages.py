"""WhatsApp and SMS: ``/api/v1/<whatsapp|sms>/messages/`` and ``/whatsapp/conversations/``.

Any user of the firm may read and send. A list is one query for its page plus one per subject type
on it (the subjects' names), whatever the page size. ``POST`` queues a message for sending
(``messaging.outbound``): 201 with the message as ``queued``; the same ``Idempotency-Key`` header
again answers 200 with the first message and sends nothing more.
"""

import django_filters
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.mixins import CreateModelMixin
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import outbound, selectors
from messaging.api.inbox import RowsKeysetPagination
from messaging.choices import Direction
from messaging.models import Message
from traf3li.api.fields import SUBJECT_SCHEMA, SubjectField
from traf3li.api.filters import SubjectFilter
from traf3li.api.views import FirmReadOnlyViewSet, FirmViewSetMixin


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``?status=sent,read``."""


@extend_schema_field(OpenApiTypes.STR)
class MessageSubjectFilter(SubjectFilter):
    """``?subject=client:42``."""


class MessageFilterSet(django_filters.FilterSet):
    address = django_filters.CharFilter(
        method="filter_address", help_text="The counterpart's address, exactly as stored (see `address`)."
    )
    subject = MessageSubjectFilter(method="filter_subject", help_text="'client:42': the messages linked to it.")
    status = CharInFilter(field_name="status", help_text="A status, or a comma-separated list (sent,read).")
    direction = django_filters.ChoiceFilter(choices=Direction.choices)

    class Meta:
        model = Message
        fields = ["address", "subject", "status", "direction"]

    def filter_address(self, queryset, name, value):
        return selectors.message_filter_address(queryset, value.strip()) if value.strip() else queryset

    def filter_subject(self, queryset, name, value):
        return selectors.message_filter_subject(queryset, value) if value else queryset


class StoredTimeField(serializers.DateTimeField):
    """A time kept as an ISO string in JSON (``status_history``), shown in the firm's timezone like
    every other time: DRF would pass the stored string through as it is (UTC)."""

    def to_representation(self, value):
        if isinstance(value, str):
            value = parse_datetime(value)
        return super().to_representation(value)


class StatusItemSerializer(serializers.Serializer):
    status = serializers.CharField()
    at = StoredTimeField()
    error_code = serializers.CharField(allow_blank=True)
    error_message = serializers.CharField(allow_blank=True)


class TrackingSerializer(serializers.Serializer):
    provider = serializers.CharField()
    external_id = serializers.CharField()


class MessageSerializer(serializers.ModelSerializer):
    """A message as its provider reported it; ``subject`` is null while it is unmatched."""

    address = serializers.CharField(read_only=True, help_text="The counterpart: the recipient when outbound.")
    subject = serializers.SerializerMethodField()
    status_history = StatusItemSerializer(many=True, read_only=True)
    tracking = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "channel",
            "direction",
            "address",
            "from_address",
            "to_address",
            "body",
            "message_type",
            "media",
            "status",
            "status_history",
            "sent_at",
            "delivered_at",
            "read_at",
            "subject",
            "entry_id",
            "tracking",
            "send_state",
            "send_attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field({**SUBJECT_SCHEMA, "nullable": True})
    def get_subject(self, message):
        if message.subject_id is None:
            return None
        subjects = self.context.get("subjects")
        if subjects is None:  # a single message: its own lookup
            subjects = selectors.subjects_resolve([(message.subject_type, message.subject_id)])
        return subjects.get((message.subject_type, message.subject_id))

    @extend_schema_field(TrackingSerializer)
    def get_tracking(self, message):
        return {"provider": message.provider, "external_id": message.external_id}


class TemplateSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[a-z0-9_]{1,512}$", help_text="The approved template's name.")
    language = serializers.RegexField(r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$", help_text="Its language code: ar, en_US.")


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description="Up to 64 letters, digits, '-' or '_'. The same key again returns the first message, unsent again.",
)


class MessageSendSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=64, help_text="The recipient's phone number (E.164, or national).")
    body = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    template = TemplateSerializer(required=False, help_text="WhatsApp only: an approved template, instead of a body.")
    subject = SubjectField(required=False, help_text="The record whose timeline shows it; else the recipient's.")


class MessageViewSet(CreateModelMixin, FirmReadOnlyViewSet):
    """A channel's messages, newest first, with their delivery statuses; POST sends one."""

    answers_conflict = True  # an Idempotency-Key reused for another message (409)

    serializer_class = MessageSerializer
    filterset_class = MessageFilterSet
    keyset = ("created_at", "id")
    channel = ""

    def get_queryset(self):
        return selectors.message_list(self.channel)

    @extend_schema(
        request=MessageSendSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    def create(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if key and not outbound.CLIENT_REF.fullmatch(key):
            raise serializers.ValidationError({"Idempotency-Key": ["Up to 64 letters, digits, '-' or '_'."]})
        incoming = MessageSendSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        queued = outbound.message_queue(
            channel=self.channel,
            to=data["to"],
            body=data["body"],
            template=dict(data["template"]) if data.get("template") else None,
            subject=data.get("subject"),
            client_ref=key,
            actor=request.user,
        )
        answer = status.HTTP_201_CREATED if queued.created else status.HTTP_200_OK
        return Response(self.get_serializer(queued.message).data, status=answer)

    @extend_schema(request=None, responses={200: MessageSerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request, *args, **kwargs):
        """Send again a message whose outcome is unknown or that failed (after checking with the provider)."""
        message = outbound.message_resend(message=self.get_object(), actor=request.user)
        return Response(self.get_serializer(message).data)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        subjects = selectors.subjects_resolve((m.subject_type, m.subject_id) for m in page)
        serializer = self.get_serializer(
            page, many=True, context={**self.get_serializer_context(), "subjects": subjects}
        )
        return self.get_paginated_response(serializer.data)


@extend_schema(tags=["whatsapp"])
class WhatsAppMessageViewSet(MessageViewSet):
    channel = "whatsapp"


@extend_schema(tags=["sms"])
class SmsMessageViewSet(MessageViewSet):
    channel = "sms"


class ConversationSerializer(serializers.Serializer):
    address = serializers.CharField()
    subject = serializers.JSONField(allow_null=True, help_text="The record of the conversation's last message.")
    last_message_at = serializers.DateTimeField()
    messages = serializers.IntegerField(help_text="How many messages the conversation has.")
    last_preview = serializers.CharField(allow_blank=True)


class WhatsAppConversationListView(FirmViewSetMixin, APIView):
    """WhatsApp messages grouped by counterpart address, the most recent conversation first."""

    pagination_class = RowsKeysetPagination
    keyset = ("last_message_at", "last_id")
    channel = "whatsapp"

    @extend_schema(
        tags=["whatsapp"],
        operation_id="whatsapp_conversations_list",
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The cursor of a previous page's link."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1 to 200; 50 by default."),
        ],
        responses=inline_serializer(
            "ConversationPage",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ConversationSerializer(many=True),
            },
        ),
    )
    def get(self, request, *args, **kwargs):
        paginator = self.pagination_class()
        rows = paginator.paginate_queryset(None, request, view=self)
        return paginator.get_paginated_response(ConversationSerializer(rows, many=True).data)

    def keyset_rows(self, *, after, reverse, limit):
        queryset = selectors.conversation_list(self.channel)
        return selectors.conversation_page(queryset, after=after, reverse=reverse, limit=limit)
