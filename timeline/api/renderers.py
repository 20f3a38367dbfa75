import orjson
from rest_framework.renderers import JSONRenderer


def _default(value):
    # Decimals, lazy translations and ErrorDetail-like objects all render as their text.
    return str(value)


class ORJSONRenderer(JSONRenderer):
    """JSON through orjson: the timeline's pages render several times faster than with the stdlib."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)
