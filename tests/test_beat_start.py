"""Beat sends the reminders once to every firm as it starts, not one whole interval later."""

from types import SimpleNamespace

import pytest
from celery import signals
from celery.beat import Service
from django.db import connection

from traf3li.firms.models import Firm

pytestmark = pytest.mark.django_db


def test_beat_start_sends_the_reminders_to_every_firm(tmp_path, monkeypatch):
    from traf3li.celery import app

    # As `celery beat` builds it: the configured scheduler (tenant-aware), BEAT_SCHEDULE merged in.
    service = Service(
        app=app, scheduler_cls=app.conf.beat_scheduler, schedule_filename=str(tmp_path / "celerybeat-schedule")
    )
    scheduler = service.scheduler
    sent = []

    def apply_async(entry, **_):
        sent.append((entry.task, connection.schema_name))
        return SimpleNamespace(id=f"sent-{len(sent)}")

    monkeypatch.setattr(scheduler, "apply_async", apply_async)
    try:
        # when beat starts (the signal Service.start sends before its first tick)
        signals.beat_init.send(sender=service)
    finally:
        scheduler.close()
    # then the reminders went out once per firm, in each firm's schema, and nothing else did
    firms = set(Firm.objects.exclude(schema_name="public").values_list("schema_name", flat=True))
    assert sorted(sent) == sorted(("timeline.activities.tasks.activity_reminders_task", s) for s in firms)
    assert firms
