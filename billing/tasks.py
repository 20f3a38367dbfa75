from celery import shared_task

from billing import services


@shared_task
def billing_sweep_task() -> dict:
    """Overdue invoices and installments, installment reminders, stats deltas folded (in the firm's schema)."""
    run = services.billing_sweep()
    return {
        "invoices_overdue": run.invoices_overdue,
        "installments_overdue": run.installments_overdue,
        "reminders": run.reminders,
        "folded": run.folded,
        "skipped": len(run.skipped),
    }
