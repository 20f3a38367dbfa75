"""OpenAPI ``servers``: the docs live on the platform host, the API on each firm's host.

Without a server entry Swagger UI's "Try it out" calls the host that served the schema, and the
platform host has no ``/api/v1/``. The entry names the firm as a variable (``{firm}``), defaulting
to the firm whose host serves the schema, else the demo firm, on the scheme and port of the request.
"""

from django.conf import settings
from django.db import connection

from traf3li.api.middleware import host_explicit_port

EXAMPLE_FIRM = "acme"  # the demo firm (seed_demo); any firm's slug may be typed in its place


def _port_suffix(request) -> str:
    port = host_explicit_port(request.get_host()) if request is not None else ""
    return f":{port}" if port else ""


def add_firm_servers(result, generator, request, public):
    """drf-spectacular post-processing hook: one server per firm, ``<scheme>://{firm}.<BASE_DOMAIN>[:port]``."""
    scheme = request.scheme if request is not None else "http"
    schema_name = getattr(connection, "schema_name", settings.PUBLIC_SCHEMA_NAME)
    firm = schema_name if request is not None and schema_name != settings.PUBLIC_SCHEMA_NAME else EXAMPLE_FIRM
    result["servers"] = [
        {
            "url": f"{scheme}://{{firm}}.{settings.BASE_DOMAIN}{_port_suffix(request)}",
            "description": "A firm's host: its slug, then the platform's domain.",
            "variables": {"firm": {"default": firm, "description": "The firm's slug, e.g. acme or nour."}},
        }
    ]
    return result
