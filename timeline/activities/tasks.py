from celery import shared_task

from timeline.activities import services


@shared_task
def activity_reminders_task() -> dict:
    """Send the firm's owed activity reminders (runs in the firm's schema; beat fans it out)."""
    run = services.reminders_send()
    return {"armed": run.armed, "sent": run.sent, "failed": run.failed, "obsolete": run.obsolete}
