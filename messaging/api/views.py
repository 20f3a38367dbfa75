from messaging import selectors, services
from messaging.api.serializers import ChannelAccountSerializer
from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.views import FirmModelViewSet


class ChannelAccountViewSet(FirmModelViewSet):
    """The firm's provider accounts, for its admins. Deactivate (``is_active: false``) rather than
    delete: deliveries keep naming the account that received them."""

    serializer_class = ChannelAccountSerializer
    permission_classes = [IsFirmAdmin]
    http_method_names = ["get", "post", "patch", "head", "options"]
    keyset = ("created_at", "id")

    def get_queryset(self):
        return selectors.channel_account_list()

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.channel_account_create(
            provider=data["provider"],
            name=data["name"],
            credentials=data.get("credentials", {}),
            is_active=data.get("is_active", True),
            actor=self.request.user,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        credentials = data.pop("credentials", None)
        serializer.instance = services.channel_account_update(
            account=serializer.instance, data=data, credentials=credentials, actor=self.request.user
        )
