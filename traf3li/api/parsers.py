"""Request body parsers: DRF's JSON parser with a limit on how deeply a body may nest.

No endpoint takes more than a few levels (an entry's payload, its participants, their subject), but
Python's decoder recurses once per level: a body nested about a thousand deep raised RecursionError,
a 500. Session authentication parses the body for its CSRF check, so that happened before the
caller was even known. Now any body deeper than ``MAX_DEPTH`` is a 400 wherever it is parsed.
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
ERROR_DEPTH = format_lazy(_("JSON parse error - nested deeper than {depth} levels."), depth=MAX_DEPTH)


def _deeper_than(data, limit: int) -> bool:
    """Whether objects and arrays in ``data`` nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class TooDeep(ValueError):
    """A JSON document nested deeper than ``MAX_DEPTH``."""


def loads_bounded(text: str | bytes):
    """``json.loads`` under the same depth limit, for bodies no DRF parser reads (webhooks).

    Raises ``ValueError`` for malformed JSON and ``TooDeep`` (a ValueError) past ``MAX_DEPTH``."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise TooDeep(str(ERROR_DEPTH)) from None
    if isinstance(data, dict | list) and _deeper_than(data, MAX_DEPTH):
        raise TooDeep(str(ERROR_DEPTH))
    return data


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # DRF hands this parser the raw stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (checked only
        # when request.body is read) never applied to JSON; the same limit, answered 413.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(ERROR_DEPTH)
        if isinstance(data, dict | list) and _deeper_than(data, MAX_DEPTH):
            raise ParseError(ERROR_DEPTH)
        return data
