"""RFC 5545 recurrence: validating an RRULE, and expanding a series in the wall time of its zone.

A series recurs in its own timezone: the rule runs over *local* wall times (dateutil keeps the
zone of an aware DTSTART and combines each date with the same time of day), and each local time
becomes a UTC instant only afterwards. So a weekly 09:00 in New York is 09:00 EDT in summer and
09:00 EST in winter, 13:00 or 14:00 UTC. A local time that falls into a spring-forward gap is read
with the offset before the gap (RFC 5545 §3.3.5), which is what ``zoneinfo`` does with ``fold=0``.

Expansion is bounded twice: a window may span at most ``MAX_WINDOW_DAYS`` and yield at most
``MAX_OCCURRENCES``; past either, the caller gets a 400 naming the field (never a runaway loop).
Rules that repeat more often than daily are refused: a calendar event that recurs every minute is a
mistake, and it would make every expansion scan millions of candidates.
"""

import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import rrulestr
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

MAX_WINDOW_DAYS = 400
MAX_OCCURRENCES = 5000
# Candidates one expansion may walk through before it gives up (a daily series of 130 years).
MAX_SCAN = 50_000
# Occurrences a series' last end is computed from; a longer finite series is indexed as unbounded.
MAX_FINITE = 5000

ALLOWED_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
KNOWN_PARTS = {
    "FREQ",
    "UNTIL",
    "COUNT",
    "INTERVAL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
}
MAX_INTERVAL = 1000
MAX_COUNT = 10_000

ERROR_RRULE = _("Not a valid RFC 5545 RRULE: {reason}.")
ERROR_RRULE_FREQ = format_lazy(_("FREQ must be one of: {freqs}."), freqs=", ".join(ALLOWED_FREQ))
ERROR_RRULE_PART = _("Unknown RRULE part '{part}'.")
ERROR_RRULE_BOTH = _("COUNT and UNTIL can't both be given.")
ERROR_RRULE_RANGE = format_lazy(
    _("INTERVAL must be 1 to {interval} and COUNT 1 to {count}."), interval=MAX_INTERVAL, count=MAX_COUNT
)
ERROR_UNTIL = _("UNTIL must be a date (YYYYMMDD) or a date-time (YYYYMMDDTHHMMSS, optionally ending in Z).")
ERROR_WINDOW = format_lazy(_("The window may span at most {days} days."), days=MAX_WINDOW_DAYS)
ERROR_WINDOW_ORDER = _("end must be after start.")
ERROR_TOO_MANY = format_lazy(
    _("More than {count} occurrences in this window: ask for a shorter one."), count=MAX_OCCURRENCES
)

_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def instant(day: date, at: time | None, tz: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of a wall time (midnight for a date) in ``tz``; a gap time uses the offset before it."""
    return datetime.combine(day, at or time.min, tzinfo=tz).astimezone(UTC)


def _parse_until(value: str, *, tz: zoneinfo.ZoneInfo, all_day: bool) -> str:
    match = _UNTIL.match(value)
    if not match:
        raise ValidationError(ERROR_UNTIL)
    day_text, time_text, utc = match.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
        at = datetime.strptime(time_text, "%H%M%S").time() if time_text else None
    except ValueError:
        raise ValidationError(ERROR_UNTIL)
    if all_day:
        # RFC 5545: with a DATE start, UNTIL is a DATE too; a date-time is read as its local date.
        if at is not None and utc:
            day = datetime.combine(day, at, tzinfo=UTC).astimezone(tz).date()
        return day.strftime("%Y%m%d")
    if at is None:
        moment = datetime.combine(day, time(23, 59, 59), tzinfo=tz)  # "until the 5th" includes the 5th
    elif utc:
        moment = datetime.combine(day, at, tzinfo=UTC)
    else:
        moment = datetime.combine(day, at, tzinfo=tz)
    # With a TZID start, UNTIL must be in UTC (RFC 5545 §3.3.10).
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def rrule_normalize(text: str, *, dtstart: datetime, all_day: bool) -> str:
    """The rule as stored: parts upper-cased, UNTIL in the form RFC 5545 wants; ValidationError if bad.

    ``dtstart`` is the series' first start, aware in its zone (naive midnight for an all-day series).
    """
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text:
        return ""
    if "\n" in text or "\r" in text:
        raise ValidationError(ERROR_RRULE.format(reason=_("one line only")))
    parts = []
    seen = {}
    for piece in text.split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip().upper()
        value = value.strip().upper()
        if not sep or not value:
            raise ValidationError(ERROR_RRULE.format(reason=_("each part is NAME=VALUE")))
        if name not in KNOWN_PARTS:
            raise ValidationError(ERROR_RRULE_PART.format(part=name[:40]))
        if name in seen:
            raise ValidationError(ERROR_RRULE.format(reason=_("a part is repeated")))
        if name == "UNTIL":
            tz = dtstart.tzinfo if dtstart.tzinfo is not None else UTC
            value = _parse_until(value, tz=tz, all_day=all_day)
        seen[name] = value
        parts.append(f"{name}={value}")
    if seen.get("FREQ") not in ALLOWED_FREQ:
        raise ValidationError(ERROR_RRULE_FREQ)
    if "COUNT" in seen and "UNTIL" in seen:
        raise ValidationError(ERROR_RRULE_BOTH)
    for name, ceiling in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_COUNT)):
        if name in seen and not (seen[name].isdigit() and 1 <= int(seen[name]) <= ceiling):
            raise ValidationError(ERROR_RRULE_RANGE)
    rule = ";".join(parts)
    try:
        _rule(rule, dtstart)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationError(ERROR_RRULE.format(reason=str(exc)[:200] or type(exc).__name__))
    return rule


def _rule(text: str, dtstart: datetime):
    if dtstart.tzinfo is not None and "UNTIL=" in text and not text.split("UNTIL=")[1].split(";")[0].endswith("Z"):
        raise ValueError("UNTIL must be in UTC")
    return rrulestr(text, dtstart=dtstart)


@dataclass(frozen=True)
class SeriesShape:
    """What expansion needs of a series, independent of the model (so tests can build one directly)."""

    tz: zoneinfo.ZoneInfo
    all_day: bool
    start_date: date
    start_time: time | None
    duration: timedelta  # exact, for timed events
    days: int  # for all-day events: how many days each occurrence covers
    rrule: str = ""
    rdates: tuple[datetime, ...] = ()
    exdates: frozenset[datetime] = frozenset()

    @property
    def dtstart(self) -> datetime:
        if self.all_day:
            return datetime.combine(self.start_date, time.min)
        return datetime.combine(self.start_date, self.start_time, tzinfo=self.tz)

    def bounds(self, local_start: datetime) -> tuple[datetime, datetime]:
        """An occurrence's UTC start and end from its local start."""
        if self.all_day:
            day = local_start.date()
            return instant(day, None, self.tz), instant(day + timedelta(days=self.days), None, self.tz)
        start = local_start.astimezone(UTC)
        return start, start + self.duration


def shape_of(event) -> SeriesShape:
    tz = zone(event.timezone)
    return SeriesShape(
        tz=tz,
        all_day=event.all_day,
        start_date=event.start_date,
        start_time=event.start_time,
        duration=event.end_at - event.start_at,
        days=(event.end_date - event.start_date).days + 1,
        rrule=event.rrule,
        rdates=tuple(event.rdates or ()),
        exdates=frozenset(event.exdates or ()),
    )


def _local_starts(shape: SeriesShape) -> Iterator[datetime]:
    """Every local start in order: DTSTART (always the first, as RFC 5545 counts it), the rule's, the RDATEs'."""
    extra = sorted(
        (rdate.astimezone(shape.tz).replace(tzinfo=None) if shape.all_day else rdate.astimezone(shape.tz))
        for rdate in shape.rdates
    )
    first = shape.dtstart
    generated: Iterable[datetime] = _rule(shape.rrule, first) if shape.rrule else ()
    pending = iter(extra)
    nxt = next(pending, None)
    last = None
    scanned = 0
    for candidate in _with_first(first, generated):
        scanned += 1
        if scanned > MAX_SCAN:
            raise ValidationError({"end": [ERROR_TOO_MANY]})
        while nxt is not None and _key(nxt) <= _key(candidate):
            if last is None or _key(nxt) != _key(last):
                last = nxt
                yield nxt
            nxt = next(pending, None)
        if last is None or _key(candidate) != _key(last):
            last = candidate
            yield candidate
    while nxt is not None:
        if last is None or _key(nxt) != _key(last):
            last = nxt
            yield nxt
        nxt = next(pending, None)


def _key(local: datetime) -> datetime:
    return local if local.tzinfo is None else local.astimezone(UTC)


def _with_first(first: datetime, generated: Iterable[datetime]) -> Iterator[datetime]:
    yield first
    for candidate in generated:
        if _key(candidate) != _key(first):
            yield candidate


def occurrences(shape: SeriesShape, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The (start, end) UTC instants of the occurrences that overlap [start, end), EXDATEs left out."""
    found = []
    for local in _local_starts(shape):
        occ_start, occ_end = shape.bounds(local)
        if occ_start >= end:
            break
        if occ_end > start or start <= occ_start == occ_end:
            if occ_start in shape.exdates:
                continue
            found.append((occ_start, occ_end))
            if len(found) > MAX_OCCURRENCES:
                raise ValidationError({"end": [ERROR_TOO_MANY]})
    return found


def series_end(shape: SeriesShape) -> datetime | None:
    """The end of the series' last occurrence, or None when it has no end (or too many to count)."""
    if not shape.rrule:
        ends = [shape.bounds(local)[1] for local in _local_starts(shape)]
        return max(ends)
    upper = shape.rrule.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        return None
    last = None
    try:
        for index, local in enumerate(_local_starts(shape)):
            if index >= MAX_FINITE:
                return None
            end = shape.bounds(local)[1]
            last = end if last is None or end > last else last
    except ValidationError:
        return None
    return last


def is_occurrence(shape: SeriesShape, moment: datetime) -> bool:
    """Whether the series has an occurrence starting at ``moment`` (an EXDATE'd one counts too)."""
    unexcluded = SeriesShape(**{**shape.__dict__, "exdates": frozenset()})
    return any(occ_start == moment for occ_start, _ in occurrences(unexcluded, moment, moment + timedelta(seconds=1)))


def check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationError({"end": [ERROR_WINDOW_ORDER]})
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise ValidationError({"end": [ERROR_WINDOW]})


def until_before(rule: str, moment: datetime, *, tz: zoneinfo.ZoneInfo, all_day: bool) -> str:
    """The rule cut so that its last occurrence starts before ``moment`` (a "this and following" split)."""
    parts = [p for p in rule.split(";") if not p.startswith(("UNTIL=", "COUNT="))]
    if all_day:
        until = (moment.astimezone(tz).date() - timedelta(days=1)).strftime("%Y%m%d")
    else:
        until = (moment - timedelta(seconds=1)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ";".join([*parts, f"UNTIL={until}"])
