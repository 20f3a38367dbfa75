from django.db import models
from django.utils.translation import gettext_lazy as _


class Provider(models.TextChoices):
    TWILIO = "twilio", _("Twilio (voice and SMS)")
    WHATSAPP = "whatsapp", _("WhatsApp (Meta Cloud API)")
    SENDGRID = "sendgrid", _("SendGrid")
    MAILGUN = "mailgun", _("Mailgun")


# What each provider's account needs, as the contract names it. Identifiers route a delivery to
# its account and are shown; secrets are write-only, stored encrypted and never audited.
IDENTIFIERS = {
    Provider.TWILIO: ("account_sid", "from_number"),
    Provider.WHATSAPP: ("phone_number_id",),
    Provider.SENDGRID: (),
    Provider.MAILGUN: (),
}
SECRETS = {
    Provider.TWILIO: ("auth_token",),
    Provider.WHATSAPP: ("app_secret", "verify_token", "access_token"),
    Provider.SENDGRID: ("public_key",),
    Provider.MAILGUN: ("signing_key",),
}


# Needed only to send (``messaging.outbound``): an account that only receives webhooks may leave them out.
OPTIONAL_CREDENTIALS = frozenset({"from_number", "access_token"})

SECRET_LABELS = {
    "auth_token": _("Auth token"),
    "app_secret": _("App secret"),
    "verify_token": _("Verify token"),
    "public_key": _("Verification key (public key)"),
    "signing_key": _("Webhook signing key"),
    "access_token": _("Access token (to send)"),
}


class Endpoint(models.TextChoices):
    """Which webhook URL received a delivery (``/hooks/<provider>/<endpoint>/``)."""

    TWILIO_VOICE = "twilio_voice", _("Twilio voice")
    TWILIO_SMS = "twilio_sms", _("Twilio SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    SENDGRID = "sendgrid", _("SendGrid")
    MAILGUN = "mailgun", _("Mailgun")


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class CallOutcome(models.TextChoices):
    """How a finished call went: the timeline's call outcomes (``timeline.schemas``) plus canceled."""

    CONNECTED = "connected", _("Connected")
    VOICEMAIL = "voicemail", _("Voicemail")
    BUSY = "busy", _("Busy")
    NO_ANSWER = "no_answer", _("No answer")
    FAILED = "failed", _("Failed")
    CANCELED = "canceled", _("Canceled")


class EmailStatus(models.TextChoices):
    """Where an email got to: processed < delivered; bounce and dropped are terminal (``messaging.email``)."""

    PROCESSED = "processed", _("Processed")
    DELIVERED = "delivered", _("Delivered")
    BOUNCE = "bounce", _("Bounced")
    DROPPED = "dropped", _("Dropped")


class EmailEventType(models.TextChoices):
    """An email event, in SendGrid's vocabulary (``messaging.parsers`` maps Mailgun's onto it)."""

    PROCESSED = "processed", _("Processed")
    DROPPED = "dropped", _("Dropped")
    DELIVERED = "delivered", _("Delivered")
    DEFERRED = "deferred", _("Deferred")
    BOUNCE = "bounce", _("Bounced")
    OPEN = "open", _("Opened")
    CLICK = "click", _("Clicked")
    SPAMREPORT = "spamreport", _("Reported as spam")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
    GROUP_UNSUBSCRIBE = "group_unsubscribe", _("Unsubscribed from a group")
    GROUP_RESUBSCRIBE = "group_resubscribe", _("Resubscribed to a group")
    STORED = "stored", _("Stored")


class SendState(models.TextChoices):
    """Where the sending of an outbound message is (``messaging.outbound``); blank: not ours to send."""

    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Handed to the provider")
    FAILED = "failed", _("Refused or given up")
    UNCERTAIN = "uncertain", _("Outcome unknown")


# How the admin names the providers' own values (the API keeps the values as the providers send them).
class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    UNDELIVERED = "undelivered", _("Undelivered")
    CANCELED = "canceled", _("Canceled")
    RECEIVED = "received", _("Received")


class CallStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    INITIATED = "initiated", _("Dialling")
    RINGING = "ringing", _("Ringing")
    IN_PROGRESS = "in-progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    BUSY = "busy", _("Busy")
    NO_ANSWER = "no-answer", _("No answer")
    FAILED = "failed", _("Failed")
    CANCELED = "canceled", _("Canceled")


class MessageType(models.TextChoices):
    TEXT = "text", _("Text")
    TEMPLATE = "template", _("Template")
    IMAGE = "image", _("Image")
    VIDEO = "video", _("Video")
    AUDIO = "audio", _("Audio")
    DOCUMENT = "document", _("Document")
    STICKER = "sticker", _("Sticker")
    LOCATION = "location", _("Location")
    CONTACTS = "contacts", _("Contact card")
    INTERACTIVE = "interactive", _("Interactive reply")
    BUTTON = "button", _("Button reply")
    REACTION = "reaction", _("Reaction")


class Device(models.TextChoices):
    MOBILE = "mobile", _("Mobile")
    TABLET = "tablet", _("Tablet")
    DESKTOP = "desktop", _("Desktop")
    BOT = "bot", _("Automated")
    PROXY = "proxy", _("Mail provider's image proxy")


def label_of(choices: type[models.TextChoices], value: str) -> str:
    """The human name of a provider's value; a value we don't know yet is shown as it is."""
    return str(choices(value).label) if value in choices.values else (value or "—")
