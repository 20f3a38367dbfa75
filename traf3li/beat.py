"""The one beat schedule. Entries without ``tenant_schemas`` fan out as one task per firm.

Each entry says why it runs at that cadence. Apps add their entries here.
"""

import logging
from datetime import timedelta

from celery.schedules import crontab
from celery.signals import beat_init

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
    # Hearing and deadline reminders ring at 08:00 firm time the day before and on the day; a 10-minute
    # tick sends them within minutes of that, and an idle tick is one range-index probe (ADR 0053).
    "event-reminders": {"task": "timeline.events.tasks.event_reminders_task", "schedule": timedelta(minutes=10)},
    # Stats add the rollup counters and the deltas appended since the last fold, so folding is
    # about keeping that tail short, not about correctness: a minute's writes are a few hundred rows.
    "rollups-fold": {"task": "timeline.tasks.rollups_fold_task", "schedule": timedelta(minutes=1)},
    # Webhook deliveries are processed right after their commit; this re-drives what no worker took
    # (Redis down at delivery, a worker killed mid-batch). A minute bounds that delay; an idle tick
    # is one partial-index probe.
    "deliveries-sweep": {"task": "messaging.tasks.deliveries_sweep_task", "schedule": timedelta(minutes=1)},
    # Outbound messages are sent by a task queued at their commit and at each retry's due time; this
    # sends what those missed (Redis down) within a minute, and settles sends whose worker died.
    "outbound-sweep": {"task": "messaging.tasks.outbound_sweep_task", "schedule": timedelta(minutes=1)},
    # Overdue is a firm-local date: every 10 minutes turns invoices and installments overdue soon after the
    # firm's midnight and folds the billing stats' deltas, while an idle tick is two partial-index probes.
    "billing-sweep": {"task": "billing.tasks.billing_sweep_task", "schedule": timedelta(minutes=10)},
    # Retention is counted in days and whole months (email events go by monthly partition), so once
    # a day is enough; 00:30 UTC is the small hours in the Gulf, when the partition drop's brief
    # exclusive lock on the email events meets the fewest webhooks. It also creates the months ahead.
    "retention-purge": {"task": "privacy.tasks.retention_purge_task", "schedule": crontab(hour=0, minute=30)},
    # A privacy export's file and link live a day (ADR 0067): every 10 minutes deletes expired files
    # soon after (access deletes them on the spot) and queues again an export no worker took (the
    # broker was down) within minutes of being asked for; an idle tick lists one directory.
    "privacy-exports-sweep": {"task": "privacy.tasks.privacy_exports_sweep_task", "schedule": timedelta(minutes=10)},
    # A dead API token is kept 90 days for its owner's list, then deleted (ADR 0036); a day's delay
    # on that is nothing, and an idle tick reads one small table per firm.
    "api-tokens-prune": {"task": "traf3li.users.tasks.api_tokens_prune_task", "schedule": crontab(hour=1, minute=0)},
}

# Entries beat also sends once as it starts, to every firm. Without this the first reminder run came
# a whole interval after start-up: a fresh demo showed no reminder for 10 minutes. Sending twice is
# harmless (reminders are idempotent), so a beat restarted often costs only idle ticks.
SEND_AT_START = ("activity-reminders",)
logger = logging.getLogger(__name__)


def send_at_start(scheduler) -> list[str]:
    """Apply each ``SEND_AT_START`` entry now, through the scheduler's own fan-out to every firm."""
    sent = []
    for key, entry in list(scheduler.schedule.items()):
        # The tenant-aware scheduler keys entries "<name>@<schema or __all_tenants_only__>".
        if key.partition("@")[0] in SEND_AT_START:
            scheduler.apply_entry(entry, producer=scheduler.producer)
            sent.append(key)
    return sent


@beat_init.connect(weak=False)
def _send_at_start(sender=None, **_) -> None:
    # ``sender`` is beat's Service; its scheduler has merged BEAT_SCHEDULE by now. A failure here
    # (the database not migrated yet, or down) must not stop beat: its regular ticks try again.
    try:
        send_at_start(sender.scheduler)
    except Exception:
        logger.exception("beat: the start-up run of %s failed; the regular schedule goes on", SEND_AT_START)
