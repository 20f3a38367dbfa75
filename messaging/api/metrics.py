from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors
from traf3li.api.views import FirmViewSetMixin


class WhatsAppResponseTimeView(FirmViewSetMixin, APIView):
    """Minutes from a client's WhatsApp message to the firm's first reply: the firm's median and each
    conversation's. A wait starts with a client's message after a reply (or the first one); an
    unanswered wait is not counted yet."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "WhatsAppResponseTime",
            {
                "median_minutes": serializers.FloatField(allow_null=True),
                "replies": serializers.IntegerField(),
                "conversations": inline_serializer(
                    "WhatsAppConversationResponseTime",
                    {
                        "address": serializers.CharField(),
                        "replies": serializers.IntegerField(),
                        "median_minutes": serializers.FloatField(),
                    },
                    many=True,
                ),
            },
        )
    )
    def get(self, request):
        return Response(selectors.whatsapp_response_times())
