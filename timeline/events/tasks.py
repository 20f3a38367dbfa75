from celery import shared_task

from timeline.events import services


@shared_task
def event_reminders_task() -> dict:
    """Send the firm's owed hearing and deadline reminders (runs in the firm's schema; beat fans it out)."""
    return services.event_reminders_send()
