from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    """Channels: provider accounts, verified webhooks stored first, then messages, calls and emails."""

    name = "messaging"
    verbose_name = _("Channels")

    def ready(self):
        from audit.services import snapshot_omit_register
        from traf3li.core.subjects import subject_register

        subject_register("channel_account", "messaging.ChannelAccount", public=False)

        # Secrets never reach the audit log; their keyed fingerprint shows that they changed.
        snapshot_omit_register("messaging.ChannelAccount", ["secrets_encrypted"])
