from celery import shared_task

from timeline import rollups


@shared_task
def rollups_fold_task() -> dict:
    """Fold the firm's appended rollup deltas into its counters (runs in the firm's schema)."""
    return {"folded": rollups.rollup_fold()}
