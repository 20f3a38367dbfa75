from django.db import models
from django.utils.translation import gettext_lazy as _


class EntryKind(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MEETING = "meeting", _("Meeting")
    TASK = "task", _("Task")
    NOTE = "note", _("Note")
    DOCUMENT = "document", _("Document")
    STATUS_CHANGE = "status_change", _("Status change")
    CASE_CREATED = "case_created", _("Case created")
    INVOICE = "invoice", _("Invoice")
    PAYMENT = "payment", _("Payment")
    EVENT = "event", _("Event")


class EntrySource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    SYSTEM = "system", _("System")
    TWILIO = "twilio", _("Twilio")
    WHATSAPP = "whatsapp", _("WhatsApp")
    SENDGRID = "sendgrid", _("SendGrid")
    MAILGUN = "mailgun", _("Mailgun")
    IMPORT = "import", _("Import")


# The kinds the stats' "communications" block reports, with their average duration when known.
COMMUNICATION_KINDS = (EntryKind.CALL, EntryKind.EMAIL, EntryKind.SMS, EntryKind.WHATSAPP, EntryKind.MEETING)
