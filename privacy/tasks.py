"""The privacy exports' and queued erasures' tasks. Their arguments are ids, never personal data (ADR 0068)."""

from celery import shared_task

from privacy import export, retention


@shared_task
def privacy_export_task(export_id: str) -> str:
    """Make one stored export (runs in the firm's schema); its status, never its content."""
    return export.export_run(export_id)


@shared_task
def privacy_erase_task(erasure_id: str) -> str:
    """Run one queued erasure (in the firm's schema); its status, never what it erased."""
    return export.erasure_run(erasure_id)


@shared_task
def privacy_exports_sweep_task() -> dict:
    """Beat: delete the firm's expired exports and erasures, queue again those no worker took."""
    return export.exports_sweep()


@shared_task
def retention_purge_task() -> dict:
    """Purge the firm by its retention settings (runs in the firm's schema, daily; ADR 0064), as the
    owner on one connection: it drops partitions, and the product's role can't (ADR 0062)."""
    receipt = retention.retention_purge()
    return {"removed": receipt["removed"], "kept_under_hold": receipt["kept_under_hold"]}
