"""``/api/v1/email/campaigns/``: the firm's email campaigns, their engagement funnel and devices.

Read-only, for any authenticated user of the firm. Buckets are in the firm's timezone.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from messaging import email
from messaging.models import EmailCampaign
from timeline.rollups import firm_tz
from traf3li.api.views import FirmReadOnlyViewSet

ERROR_INTERVAL = _("interval must be one of: hour, day, week.")


class EmailCampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailCampaign
        fields = ["id", "provider", "name", "external_id", "created_at"]
        read_only_fields = fields


class EngagementBucketSerializer(serializers.Serializer):
    """Distinct emails of the campaign with each event in the bucket."""

    bucket = serializers.DateTimeField(help_text="The bucket's start, in the firm's timezone.")
    sent = serializers.IntegerField(help_text="Processed by the provider.")
    delivered = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="Opened by a person: machine opens (Apple Mail) are left out.")
    clicked = serializers.IntegerField()
    bounced = serializers.IntegerField(help_text="Bounced or dropped.")
    unsubscribed = serializers.IntegerField(help_text="Unsubscribed, from everything or from a group.")
    complained = serializers.IntegerField(help_text="Reported as spam.")


class DeviceSerializer(serializers.Serializer):
    device = serializers.CharField(help_text="mobile, tablet, desktop, bot, proxy (a mail image proxy) or unknown.")
    opens = serializers.IntegerField(help_text="Open events, machine opens left out.")
    clicks = serializers.IntegerField(help_text="Click events.")


@extend_schema_view(
    list=extend_schema(summary="List email campaigns", description="Newest first, keyset-paginated."),
    retrieve=extend_schema(summary="Retrieve an email campaign"),
)
class EmailCampaignViewSet(FirmReadOnlyViewSet):
    """The campaigns the firm's SendGrid and Mailgun events named."""

    serializer_class = EmailCampaignSerializer
    keyset = ("created_at", "id")

    def get_queryset(self):
        return EmailCampaign.objects.all()

    @extend_schema(
        summary="Engagement funnel of a campaign over time",
        parameters=[
            OpenApiParameter(
                "interval",
                OpenApiTypes.STR,
                enum=list(email.INTERVALS),
                default="day",
                description="The bucket size, in the firm's timezone.",
            )
        ],
        responses={200: EngagementBucketSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def engagement(self, request, pk=None):
        interval = request.query_params.get("interval") or "day"
        if interval not in email.INTERVALS:
            raise ValidationError({"interval": [ERROR_INTERVAL]})
        campaign = self.get_object()
        rows = email.campaign_engagement(campaign, interval, firm_tz())
        return Response(EngagementBucketSerializer(rows, many=True).data)

    @extend_schema(
        summary="Opens and clicks of a campaign by device type", responses={200: DeviceSerializer(many=True)}
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def devices(self, request, pk=None):
        return Response(DeviceSerializer(email.campaign_devices(self.get_object()), many=True).data)
