from celery import shared_task

from privacy import retention


@shared_task
def retention_purge_task() -> dict:
    """Purge the firm by its retention settings (runs in the firm's schema, daily; ADR 0064)."""
    receipt = retention.retention_purge()
    return {"removed": receipt["removed"], "kept_under_hold": receipt["kept_under_hold"]}
