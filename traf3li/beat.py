"""The one beat schedule. Entries without ``tenant_schemas`` fan out as one task per firm.

Each entry says why it runs at that cadence. Apps add their entries here.
"""

from datetime import timedelta

BEAT_SCHEDULE: dict[str, dict] = {
    # Proves the worker and beat are alive for every firm; cheap, and visible in the logs.
    "heartbeat": {"task": "traf3li.core.tasks.heartbeat_task", "schedule": timedelta(minutes=5)},
    # Reminders are keyed by date in the firm's timezone; every 10 minutes a "due today" reminder lands
    # soon after the firm's midnight and a failed email is retried promptly, while an idle tick is a
    # couple of partial-index scans. Sending is idempotent, so overlapping ticks are harmless (ADR 0020).
    "activity-reminders": {
        "task": "timeline.activities.tasks.activity_reminders_task",
        "schedule": timedelta(minutes=10),
    },
    # Stats add the rollup counters and the deltas appended since the last fold, so folding is
    # about keeping that tail short, not about correctness: a minute's writes are a few hundred rows.
    "rollups-fold": {"task": "timeline.tasks.rollups_fold_task", "schedule": timedelta(minutes=1)},
}
