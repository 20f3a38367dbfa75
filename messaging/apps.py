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
        subject_register("message", "messaging.Message", public=False)  # a sent message's audit events

        # Secrets never reach the audit log; their keyed fingerprint shows that they changed.
        snapshot_omit_register("messaging.ChannelAccount", ["secrets_encrypted"])
        from messaging import privacy

        privacy.register()  # the privacy data map: messages, calls, emails, raw deliveries

        # Processing v1: messages and calls onto the timeline.
        from messaging.handlers import HANDLERS
        from messaging.processing import delivery_handler_register

        for endpoint, handler in HANDLERS.items():
            delivery_handler_register(endpoint, handler)

        # The same outcome for SMS and WhatsApp, set-based per batch (messaging.batch).
        from messaging.batch import PARSERS, messages_batch
        from messaging.processing import delivery_batch_handler_register

        for endpoint in PARSERS:
            delivery_batch_handler_register(endpoint, messages_batch)

        # Email events (SendGrid, Mailgun): emails, campaigns and their timeline entries.
        from messaging.email import HANDLERS as EMAIL_HANDLERS

        for endpoint, handler in EMAIL_HANDLERS.items():
            delivery_handler_register(endpoint, handler)
