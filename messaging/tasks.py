"""Processing of stored webhook deliveries, after their commit; a sweeper re-drives the rest."""

from celery import shared_task

from messaging import outbound, processing


@shared_task
def deliveries_process_task() -> dict:
    """Process what is owed in this firm, in batches (runs in the firm's schema)."""
    return {"processed": processing.deliveries_process()}


@shared_task
def deliveries_sweep_task() -> dict:
    """Beat's re-drive: whatever no worker processed (Redis was down, a worker died mid-batch)."""
    return {"processed": processing.deliveries_process(older_than_seconds=60)}


@shared_task
def message_send_task(message_id: int) -> str:
    """Send one outbound message if it is still due (a duplicate task finds it claimed or sent)."""
    return outbound.message_send(message_id)


@shared_task
def outbound_sweep_task() -> dict:
    """Beat: queue the messages due for sending, and mark sends that lost their worker uncertain."""
    return outbound.outbound_sweep()
