"""Recurrence expansion: the examples of RFC 5545 §3.8.5.3, daylight saving, bounds and bad rules.

Each RFC case below is transcribed from the examples in RFC 5545, section 3.8.5.3 ("Recurrence
Rule"), pages 123-131: its description, its DTSTART (all in America/New_York at 09:00), its RRULE
and the dates the RFC lists after "==>". Every listed time is 9:00 AM local (EDT or EST, as the
RFC notes), so each expected occurrence is that date at 09:00 New York time. For rules without an
end, the RFC lists the first few occurrences ("..."); the window is cut right after the last one
it lists. The RFC's HOURLY, MINUTELY and SECONDLY examples are refused by design (see the last tests).
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from timeline.events import recurrence
from timeline.events.recurrence import SeriesShape

NY = ZoneInfo("America/New_York")
RIYADH = ZoneInfo("Asia/Riyadh")


def shape(dtstart: str, rule: str, *, tz=NY, exdates=(), duration=timedelta(hours=1)) -> SeriesShape:
    start = datetime.strptime(dtstart, "%Y%m%dT%H%M%S")
    normalized = recurrence.rrule_normalize(rule, dtstart=start.replace(tzinfo=tz), all_day=False)
    return SeriesShape(
        tz=tz,
        all_day=False,
        start_date=start.date(),
        start_time=start.time(),
        duration=duration,
        days=1,
        rrule=normalized,
        exdates=frozenset(datetime.strptime(e, "%Y%m%dT%H%M%S").replace(tzinfo=tz).astimezone(UTC) for e in exdates),
    )


def nine(*days: tuple[int, int, int]) -> list[datetime]:
    return [datetime(y, m, d, 9, 0, tzinfo=NY).astimezone(UTC) for y, m, d in days]


def month(year: int, mon: int, *days: int) -> list[tuple[int, int, int]]:
    return [(year, mon, d) for d in days]


def expand(series: SeriesShape, until: datetime) -> list[datetime]:
    first = datetime.combine(series.start_date, series.start_time, tzinfo=series.tz)
    return [start for start, _ in recurrence.occurrences(series, first.astimezone(UTC), until)]


def after(*day: int) -> datetime:
    """Just after 09:00 on the given day: the window's end, past the RFC's last listed occurrence."""
    return datetime(*day, 10, 0, tzinfo=NY).astimezone(UTC)


RFC_CASES = [
    # "Daily for 10 occurrences" ==> (1997 9:00 AM EDT) September 2-11
    ("19970902T090000", "FREQ=DAILY;COUNT=10", (), month(1997, 9, *range(2, 12)), None),
    # "Daily until December 24, 1997" ==> (EDT) September 2-30; October 1-25; (EST) October 26-31;
    # November 1-30; December 1-23
    (
        "19970902T090000",
        "FREQ=DAILY;UNTIL=19971224T000000Z",
        (),
        month(1997, 9, *range(2, 31))
        + month(1997, 10, *range(1, 32))
        + month(1997, 11, *range(1, 31))
        + month(1997, 12, *range(1, 24)),
        None,
    ),
    # "Every other day - forever" ==> September 2,4,6,8...24,26,28,30; October 2,4,6...20,22,24;
    # (EST) October 26,28,30; November 1,3,5,7...25,27,29; December 1,3,...
    (
        "19970902T090000",
        "FREQ=DAILY;INTERVAL=2",
        (),
        month(1997, 9, *range(2, 31, 2))
        + month(1997, 10, *range(2, 31, 2))
        + month(1997, 11, *range(1, 30, 2))
        + month(1997, 12, 1, 3),
        (1997, 12, 3),
    ),
    # "Every 10 days, 5 occurrences" ==> September 2,12,22; October 2,12
    ("19970902T090000", "FREQ=DAILY;INTERVAL=10;COUNT=5", (), month(1997, 9, 2, 12, 22) + month(1997, 10, 2, 12), None),
    # "Every day in January, for 3 years" (the DAILY form) ==> January 1-31 of 1998, 1999 and 2000
    (
        "19980101T090000",
        "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        (),
        [(y, 1, d) for y in (1998, 1999, 2000) for d in range(1, 32)],
        None,
    ),
    # The same, in its YEARLY form
    (
        "19980101T090000",
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        (),
        [(y, 1, d) for y in (1998, 1999, 2000) for d in range(1, 32)],
        None,
    ),
    # "Weekly for 10 occurrences" ==> (EDT) September 2,9,16,23,30; October 7,14,21; (EST) October 28;
    # November 4
    (
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10",
        (),
        month(1997, 9, 2, 9, 16, 23, 30) + month(1997, 10, 7, 14, 21, 28) + month(1997, 11, 4),
        None,
    ),
    # "Weekly on Tuesday and Thursday for five weeks" (UNTIL form) ==> September 2,4,9,11,16,18,23,25,30;
    # October 2
    (
        "19970902T090000",
        "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        (),
        month(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + month(1997, 10, 2),
        None,
    ),
    # The same, COUNT form
    (
        "19970902T090000",
        "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        (),
        month(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + month(1997, 10, 2),
        None,
    ),
    # "Every other week on Monday, Wednesday, and Friday until December 24, 1997, starting on Monday,
    # September 1, 1997" ==> September 1,3,5,15,17,19,29; October 1,3,13,15,17; (EST) October 27,29,31;
    # November 10,12,14,24,26,28; December 8,10,12,22
    (
        "19970901T090000",
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        (),
        month(1997, 9, 1, 3, 5, 15, 17, 19, 29)
        + month(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
        + month(1997, 11, 10, 12, 14, 24, 26, 28)
        + month(1997, 12, 8, 10, 12, 22),
        None,
    ),
    # "Monthly on the first Friday until December 24, 1997" ==> September 5; October 3; (EST) November 7;
    # December 5
    (
        "19970905T090000",
        "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        (),
        [(1997, 9, 5), (1997, 10, 3), (1997, 11, 7), (1997, 12, 5)],
        None,
    ),
    # "Monthly on the 2nd and 15th of the month for 10 occurrences" ==> September 2,15; October 2,15;
    # (EST) November 2,15; December 2,15; (1998) January 2,15
    (
        "19970902T090000",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        (),
        month(1997, 9, 2, 15)
        + month(1997, 10, 2, 15)
        + month(1997, 11, 2, 15)
        + month(1997, 12, 2, 15)
        + month(1998, 1, 2, 15),
        None,
    ),
    # "Monthly on the third-to-the-last day of the month, forever" ==> September 28; (EST) October 29;
    # November 28; December 29; (1998) January 29; February 26 ...
    (
        "19970928T090000",
        "FREQ=MONTHLY;BYMONTHDAY=-3",
        (),
        [(1997, 9, 28), (1997, 10, 29), (1997, 11, 28), (1997, 12, 29), (1998, 1, 29), (1998, 2, 26)],
        (1998, 2, 26),
    ),
    # "Every Tuesday, every other month" ==> September 2,9,16,23,30; (EST) November 4,11,18,25;
    # (1998) January 6,13,20,27; March 3,10,17,24,31 ...
    (
        "19970902T090000",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        (),
        month(1997, 9, 2, 9, 16, 23, 30)
        + month(1997, 11, 4, 11, 18, 25)
        + month(1998, 1, 6, 13, 20, 27)
        + month(1998, 3, 3, 10, 17, 24, 31),
        (1998, 3, 31),
    ),
    # "Yearly in June and July for 10 occurrences" ==> June 10; July 10 of 1997 to 2001
    (
        "19970610T090000",
        "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        (),
        [(y, m, 10) for y in range(1997, 2002) for m in (6, 7)],
        None,
    ),
    # "Every 20th Monday of the year, forever" ==> 1997 May 19; 1998 May 18; 1999 May 17 ...
    ("19970519T090000", "FREQ=YEARLY;BYDAY=20MO", (), [(1997, 5, 19), (1998, 5, 18), (1999, 5, 17)], (1999, 5, 17)),
    # "Monday of week number 20 (where the default start of the week is Monday), forever"
    # ==> 1997 May 12; 1998 May 11; 1999 May 17 ...
    (
        "19970512T090000",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        (),
        [(1997, 5, 12), (1998, 5, 11), (1999, 5, 17)],
        (1999, 5, 17),
    ),
    # "Every Thursday in March, forever" ==> 1997 March 13,20,27; 1998 March 5,12,19,26;
    # 1999 March 4,11,18,25 ...
    (
        "19970313T090000",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        (),
        month(1997, 3, 13, 20, 27) + month(1998, 3, 5, 12, 19, 26) + month(1999, 3, 4, 11, 18, 25),
        (1999, 3, 25),
    ),
    # "Every Friday the 13th, forever", with EXDATE;TZID=America/New_York:19970902T090000
    # ==> (1998 EST) February 13; March 13; November 13; (1999 EDT) August 13; (2000 EDT) October 13 ...
    (
        "19970902T090000",
        "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        ("19970902T090000",),
        [(1998, 2, 13), (1998, 3, 13), (1998, 11, 13), (1999, 8, 13), (2000, 10, 13)],
        (2000, 10, 13),
    ),
    # "The third instance into the month of one of Tuesday, Wednesday, or Thursday, for the next
    # 3 months" ==> September 4; October 7; (EST) November 6
    (
        "19970904T090000",
        "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        (),
        [(1997, 9, 4), (1997, 10, 7), (1997, 11, 6)],
        None,
    ),
    # "The second-to-last weekday of the month" ==> September 29; (EST) October 30; November 27;
    # December 30; (1998) January 29; February 26; March 30 ...
    (
        "19970929T090000",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        (),
        [(1997, 9, 29), (1997, 10, 30), (1997, 11, 27), (1997, 12, 30), (1998, 1, 29), (1998, 2, 26), (1998, 3, 30)],
        (1998, 3, 30),
    ),
    # "Every 4 years, the first Tuesday after a Monday in November, forever (U.S. Presidential
    # Election day)" ==> 1996 November 5; 2000 November 7; 2004 November 2 ...
    (
        "19961105T090000",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        (),
        [(1996, 11, 5), (2000, 11, 7), (2004, 11, 2)],
        (2004, 11, 2),
    ),
    # "An example where the days generated makes a difference because of WKST" ==> August 5,10,19,24
    ("19970805T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", (), month(1997, 8, 5, 10, 19, 24), None),
    # "changing only WKST from MO to SU, yields different results" ==> August 5,17,19,31
    ("19970805T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", (), month(1997, 8, 5, 17, 19, 31), None),
    # "An example where an invalid date (i.e., February 30) is ignored" ==> (2007 EST) January 15,30;
    # February 15; (2007 EDT) March 15,30
    (
        "20070115T090000",
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        (),
        [(2007, 1, 15), (2007, 1, 30), (2007, 2, 15), (2007, 3, 15), (2007, 3, 30)],
        None,
    ),
]


@pytest.mark.parametrize(("dtstart", "rule", "exdates", "days", "last"), RFC_CASES, ids=[c[1] for c in RFC_CASES])
def test_rfc_5545_examples_expand_to_the_listed_dates(dtstart, rule, exdates, days, last):
    series = shape(dtstart, rule, exdates=exdates)
    until = after(*last) if last else datetime(2010, 1, 1, tzinfo=UTC)
    assert expand(series, until) == nine(*days)


def test_the_rfc_dates_keep_nine_local_across_the_1997_switch():
    # "Weekly for 10 occurrences": 09:00 EDT is 13:00 UTC, 09:00 EST after 26 October is 14:00 UTC.
    starts = expand(shape("19970902T090000", "FREQ=WEEKLY;COUNT=10"), datetime(1998, 1, 1, tzinfo=UTC))
    assert {s.astimezone(NY).time() for s in starts} == {time(9, 0)}
    assert starts[7].hour == 13 and starts[8].hour == 14


def test_a_weekly_meeting_in_new_york_stays_at_nine_across_both_switches():
    # given a Monday 09:00 meeting from February to December 2026 (switches 8 March and 1 November)
    series = shape("20260202T090000", "FREQ=WEEKLY;BYDAY=MO")
    # when it is expanded over the year
    starts = expand(series, datetime(2026, 12, 31, tzinfo=UTC))
    # then every occurrence is 09:00 on the wall, 14:00 UTC in winter and 13:00 UTC in summer
    assert {s.astimezone(NY).time() for s in starts} == {time(9, 0)}
    by_day = {s.astimezone(NY).date(): s.hour for s in starts}
    assert by_day[date(2026, 3, 2)] == 14 and by_day[date(2026, 3, 9)] == 13
    assert by_day[date(2026, 10, 26)] == 13 and by_day[date(2026, 11, 2)] == 14


def test_riyadh_has_no_daylight_saving_so_every_occurrence_is_six_utc():
    starts = expand(shape("20260201T090000", "FREQ=WEEKLY;BYDAY=SU", tz=RIYADH), datetime(2027, 1, 1, tzinfo=UTC))
    assert len(starts) == 48
    assert {(s.hour, s.minute) for s in starts} == {(6, 0)}


def test_a_wall_time_in_the_spring_gap_uses_the_offset_before_the_gap():
    # 02:30 does not exist in New York on 8 March 2026; RFC 5545 §3.3.5 reads it with EST (-05:00).
    starts = expand(shape("20260301T023000", "FREQ=WEEKLY;COUNT=3"), datetime(2026, 4, 1, tzinfo=UTC))
    assert [s.strftime("%m-%d %H:%M") for s in starts] == ["03-01 07:30", "03-08 07:30", "03-15 06:30"]


def test_all_day_series_are_dates_in_their_zone():
    series = SeriesShape(
        tz=RIYADH,
        all_day=True,
        start_date=date(2026, 3, 1),
        start_time=None,
        duration=timedelta(days=1),
        days=2,
        rrule=recurrence.rrule_normalize("FREQ=WEEKLY;UNTIL=20260315", dtstart=datetime(2026, 3, 1), all_day=True),
    )
    found = recurrence.occurrences(series, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [(s.astimezone(RIYADH).date(), e.astimezone(RIYADH).date()) for s, e in found] == [
        (date(2026, 3, 1), date(2026, 3, 3)),
        (date(2026, 3, 8), date(2026, 3, 10)),
        (date(2026, 3, 15), date(2026, 3, 17)),
    ]


def test_until_is_stored_in_utc_as_rfc_5545_asks_with_a_tzid_start():
    start = datetime(2026, 3, 2, 9, 0, tzinfo=NY)
    assert recurrence.rrule_normalize("rrule:freq=weekly;until=20260330", dtstart=start, all_day=False) == (
        "FREQ=WEEKLY;UNTIL=20260331T035959Z"
    )


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;COUNT=3",  # RFC example "Every 3 hours": refused, calendars here recur daily at most
        "FREQ=MINUTELY;INTERVAL=15;COUNT=6",
        "FREQ=FORTNIGHTLY",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;COUNT=2;UNTIL=20260101",
        "FREQ=WEEKLY;COLOR=RED",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=99999999",
        "FREQ=DAILY;UNTIL=tomorrow",
        "FREQ=WEEKLY\nEXDATE:20260101",
        "nonsense",
    ],
)
def test_invalid_rules_are_refused(rule):
    with pytest.raises(ValidationError):
        recurrence.rrule_normalize(rule, dtstart=datetime(2026, 3, 2, 9, tzinfo=NY), all_day=False)


def test_expansion_is_bounded_by_the_window_and_the_count(monkeypatch):
    monkeypatch.setattr(recurrence, "MAX_OCCURRENCES", 2000)
    with pytest.raises(ValidationError) as error:
        recurrence.check_window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    assert "end" in error.value.message_dict
    daily = shape("20260101T090000", "FREQ=DAILY")
    crowded = SeriesShape(**{**daily.__dict__, "duration": timedelta(minutes=5)})
    assert (
        len(recurrence.occurrences(crowded, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))) == 365
    )
    with pytest.raises(ValidationError):
        recurrence.occurrences(crowded, datetime(2026, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC))


def test_a_series_end_is_known_for_finite_rules_and_open_for_endless_ones():
    assert recurrence.series_end(shape("20260302T090000", "FREQ=WEEKLY;COUNT=3")) == datetime(
        2026, 3, 16, 14, 0, tzinfo=UTC
    )
    assert recurrence.series_end(shape("20260302T090000", "FREQ=WEEKLY")) is None
