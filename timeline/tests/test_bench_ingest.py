"""The ingest benchmark's measuring functions at a tiny size, so ``bench_ingest`` keeps working.

They commit (bare connections, worker processes), so they run in the scratch firm (ADR 0003);
no timing is asserted, only that every figure comes out and the run stays exact.
"""

from django.conf import settings
from django.db import connection

from timeline.bench_ingest import (
    bench_subjects,
    entry_prefix,
    exactness_checks,
    measure,
    new_tag,
    overlap_check,
    report_lines,
)


def quiet(message):
    pass


def on_the_test_database() -> bool:
    return connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


def test_a_tiny_run_measures_every_figure_and_stays_exact(scratch_firm):
    assert on_the_test_database(), "refusing to commit bench data outside the test database"
    # given
    bench_subjects(log=quiet)
    tag = new_tag()
    # when: every figure, with two writer processes and one importing process
    run = measure(firm=scratch_firm.schema_name, entries=12, writers=2, import_entries=60, tag=tag, log=quiet)
    # then
    assert run.errors == []
    rates = [run.insert_per_s, run.copy_per_s, run.record_per_s, run.writers_per_s, run.import_per_s]
    assert all(rate and rate > 0 for rate in rates)
    assert set(run.memory) == {"first_half_mb", "second_half_mb", "bounded"}
    assert run.expected == {"rec": 12, "w0": 6, "w1": 6, "imp": 60}
    assert len(report_lines(run)) == 8
    # and the chain verifies, each entry has one create event, rollups match, all were stored once
    checks = exactness_checks(expected=run.expected, tag=tag, audit_prefix=entry_prefix(tag))
    assert [(check.name, check.detail) for check in checks if not check.ok] == []


def test_two_overlapping_imports_store_each_entry_once(scratch_firm):
    """Issue 8: the second of two concurrent imports of the same ids waits, then skips them (it used to fail)."""
    assert on_the_test_database(), "refusing to commit bench data outside the test database"
    bench_subjects(log=quiet)
    check = overlap_check(firm=scratch_firm.schema_name, count=40, tag=new_tag())
    assert check.ok, check.detail
