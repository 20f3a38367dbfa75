"""The one beat schedule. Entries without ``tenant_schemas`` fan out as one task per firm.

Each entry says why it runs at that cadence. Apps add their entries here.
"""

from datetime import timedelta

BEAT_SCHEDULE: dict[str, dict] = {
    # Proves the worker and beat are alive for every firm; cheap, and visible in the logs.
    "heartbeat": {"task": "traf3li.core.tasks.heartbeat_task", "schedule": timedelta(minutes=5)},
}
