from rest_framework import serializers

from messaging.choices import Provider
from messaging.models import ChannelAccount


class ChannelAccountSerializer(serializers.ModelSerializer):
    """``{"provider", "name", "credentials": {…}}`` in; secrets never come back out.

    ``credentials`` takes the provider's fields (twilio: ``account_sid``, ``auth_token``;
    whatsapp: ``phone_number_id``, ``app_secret``, ``verify_token``; sendgrid: ``public_key``;
    mailgun: ``signing_key``). To send messages, twilio also takes ``from_number`` (the sender,
    E.164) and whatsapp ``access_token`` (a Graph API token); both are optional. On a change, a
    field not sent keeps its value. Responses show the identifiers and which secrets are set
    (``secrets_set``), never a secret.
    """

    provider = serializers.ChoiceField(choices=Provider.choices)
    credentials = serializers.DictField(child=serializers.CharField(max_length=4096), write_only=True, required=False)
    secrets_set = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ChannelAccount
        fields = [
            "id",
            "provider",
            "name",
            "is_active",
            "credentials",
            "account_sid",
            "from_number",
            "phone_number_id",
            "secrets_set",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["account_sid", "from_number", "phone_number_id", "created_at", "updated_at"]

    def validate_provider(self, value):
        if self.instance is not None and value != self.instance.provider:
            raise serializers.ValidationError("An account's provider can't change: create another account.")
        return value
