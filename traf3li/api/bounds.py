"""The ranges every API input must fall in, checked once here for every serializer, filter and cursor.

Input that parses is not yet input the rest of the stack can take: int4 columns end at 2^31 - 1,
PostgreSQL stores UTC offsets only to ±15:59, and Python's dates end at year 9999, so a date near
either end overflows as soon as it is converted to UTC or the firm's zone, or a day or a month is
added to it (``until`` takes the next midnight, the rollups step by months, deadlines add delays).
Each of these used to be a 500; the checks here make them a 400 that names the field.

Years 1900 to 9000 hold any real instant (an import of a 1950s deed, a 99-year lease) and leave
millennia of headroom for every date computation downstream.
"""

from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

# Lengths of what people type and of the lists a body carries (issue 15): past them a field is a 400
# that names it, long before the body reaches DATA_UPLOAD_MAX_MEMORY_SIZE's 413. Far above any real
# note, description or message, and the same for every app (serializers, entry payloads).
MAX_LINE = 1_000  # a one-line string with no column length of its own: an address, a tag, a status
MAX_TEXT = 100_000  # free text: a description, notes, an agenda, a transcription (about 50 pages)
MAX_ITEMS = 100  # a list in a body: tags, participants, recipients, attachments, filter values

INT4_MAX = 2**31 - 1  # IntegerField, PositiveIntegerField
INT8_MAX = 2**63 - 1  # BigIntegerField, BigAutoField ids
MIN_YEAR, MAX_YEAR = 1900, 9000
MAX_OFFSET = timedelta(hours=16)  # exclusive: PostgreSQL's timestamptz takes offsets to ±15:59:59

ERROR_YEAR = format_lazy(_("Must be in the years {first} to {last}."), first=MIN_YEAR, last=MAX_YEAR)
ERROR_OFFSET = _("The UTC offset must be within ±15:59.")
ERROR_ID = format_lazy(_("Must be an id: a whole number from 1 to {last}."), last=INT8_MAX)


def offset_error(value: datetime) -> str | None:
    """Why PostgreSQL would refuse ``value``'s UTC offset, or None."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= MAX_OFFSET:
        return ERROR_OFFSET
    return None


def moment_error(value: datetime) -> str | None:
    """Why ``value`` (aware or naive) is out of range, or None when every conversion of it is safe."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return ERROR_YEAR
    return offset_error(value)


def day_error(value: date) -> str | None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return ERROR_YEAR
    return None


def validate_moment(value: datetime) -> None:
    """A validator for form and serializer fields (both turn Django's ValidationError into a 400)."""
    error = moment_error(value)
    if error:
        raise ValidationError(error, code="out_of_range")


def validate_day(value: date) -> None:
    error = day_error(value)
    if error:
        raise ValidationError(error, code="out_of_range")
