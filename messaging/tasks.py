"""Processing of stored webhook deliveries, after their commit; a sweeper re-drives the rest."""

from celery import shared_task

from messaging import processing


@shared_task
def deliveries_process_task() -> dict:
    """Process what is owed in this firm, in batches (runs in the firm's schema)."""
    return {"processed": processing.deliveries_process()}


@shared_task
def deliveries_sweep_task() -> dict:
    """Beat's re-drive: whatever no worker processed (Redis was down, a worker died mid-batch)."""
    return {"processed": processing.deliveries_process(older_than_seconds=60)}
