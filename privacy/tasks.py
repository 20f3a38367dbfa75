"""The privacy exports' tasks. Their arguments are ids, never personal data (ADR 0068)."""

from celery import shared_task

from privacy import export


@shared_task
def privacy_export_task(export_id: str) -> str:
    """Make one stored export (runs in the firm's schema); its status, never its content."""
    return export.export_run(export_id)


@shared_task
def privacy_exports_sweep_task() -> dict:
    """Beat: delete the firm's expired exports, queue again those no worker took."""
    return export.exports_sweep()
