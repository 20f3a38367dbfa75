from django.db import models


class EntryKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    MEETING = "meeting", "Meeting"
    TASK = "task", "Task"
    NOTE = "note", "Note"
    DOCUMENT = "document", "Document"
    STATUS_CHANGE = "status_change", "Status change"
    CASE_CREATED = "case_created", "Case created"
    INVOICE = "invoice", "Invoice"
    PAYMENT = "payment", "Payment"
    EVENT = "event", "Event"


class EntrySource(models.TextChoices):
    MANUAL = "manual", "Manual"
    SYSTEM = "system", "System"
    TWILIO = "twilio", "Twilio"
    WHATSAPP = "whatsapp", "WhatsApp"
    SENDGRID = "sendgrid", "SendGrid"
    MAILGUN = "mailgun", "Mailgun"
    IMPORT = "import", "Import"


# The kinds the stats' "communications" block reports, with their average duration when known.
COMMUNICATION_KINDS = (EntryKind.CALL, EntryKind.EMAIL, EntryKind.SMS, EntryKind.WHATSAPP, EntryKind.MEETING)
