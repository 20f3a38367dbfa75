"""Dates in the firm's timezone and delays counted on its working calendar (ADR 0021).

"Today" is never the server's or UTC's date: at 00:30 in Riyadh it is already tomorrow there while
UTC still says yesterday. Every date computation here takes the firm's timezone from the connection.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from timeline.activities.choices import DelayUnit

# The timeline already knows the current firm's timezone (its rollups cut days there too).
from timeline.rollups import firm_tz

ERROR_UNKNOWN_DELAY_UNIT = "Unknown delay unit '{unit}'."


def firm_today(now: datetime | None = None, tz: zoneinfo.ZoneInfo | None = None) -> date:
    return timezone.localdate(now or timezone.now(), tz or firm_tz())


def firm_midnight(day: date, tz: zoneinfo.ZoneInfo | None = None) -> datetime:
    """The aware instant at which ``day`` starts in the firm's timezone."""
    return datetime.combine(day, time.min, tzinfo=tz or firm_tz())


@dataclass(frozen=True)
class WorkWeek:
    """A snapshot of the firm's working calendar: weekend weekdays and holiday dates."""

    weekend: frozenset[int] = frozenset({4, 5})
    holidays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def add_business_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself when count is 0)."""
        if len(self.weekend) >= 7:
            raise ValueError("A week without working days has no business days.")
        day = start
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day


def add_delay(start: date, count: int, unit: str, workweek: WorkWeek | None = None) -> date:
    if unit == DelayUnit.DAYS:
        return start + timedelta(days=count)
    if unit == DelayUnit.WEEKS:
        return start + timedelta(weeks=count)
    if unit == DelayUnit.MONTHS:
        # 31 January + 1 month is 28/29 February, not 3 March.
        return start + relativedelta(months=count)
    if unit == DelayUnit.BUSINESS_DAYS:
        return (workweek or WorkWeek()).add_business_days(start, count)
    raise ValueError(ERROR_UNKNOWN_DELAY_UNIT.format(unit=unit))
