"""OpenAPI ``servers``: the docs live on the platform host, the API on each firm's host.

Without a server entry Swagger UI's "Try it out" calls the host that served the schema, and the
platform host has no ``/api/v1/``. The entry names the firm as a variable (``{firm}``), defaulting
to the firm whose host serves the schema, else the demo firm, on the scheme and port of the request.
"""

from django.conf import settings
from django.db import connection
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.permissions import AllowAny

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


# --- The error answers of each operation ------------------------------------------------------
# Each operation declares the 4xx codes it can answer, with the body DRF (and our exception handler)
# sends: ``{"detail": "..."}``, or for a 400 the field errors (``{"field": ["..."], ...}``).
# Which codes apply is derived from the operation itself (a body, query parameters, a path id, its
# permissions and throttles), so a new endpoint declares them too; 409 only where the view says its
# services refuse changes by state (``answers_conflict = True``: their TransitionError is a 409).
# see docs/adr/0037-the-schema-declares-every-error-an-operation-answers-and-a-probe-holds-it-to-that.md

ERROR_SCHEMA = {
    "type": "object",
    "description": "What went wrong, in the user's language.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "The fields that were refused, each with its messages (nested for nested fields, e.g. an "
        "entry's payload); ``non_field_errors`` for the body as a whole, ``detail`` for a malformed body."
    ),
    "additionalProperties": {},
}
ERROR_DESCRIPTIONS = {
    "400": "The input is malformed or out of range; the body names each refused field. Nothing changed.",
    "401": "No credentials, or a token that is unknown, revoked or of another firm.",
    "403": "Signed in, but the user's role may not do this.",
    "404": "No such record in this firm.",
    "409": "The record's current state forbids this change. Nothing changed.",
    "413": "The request body is larger than the server accepts.",
    "429": "Too many failed logins for this username or client: see Retry-After.",
    "503": "The database is briefly unavailable (a restart or a failover): retry after Retry-After seconds.",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, with every operation's error answers (400 to 429, and 503) declared."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self._show_filter_lengths(operation)
        responses = operation["responses"]
        for code in self._error_codes(operation, responses):
            schema = VALIDATION_ERROR_SCHEMA if code == "400" else ERROR_SCHEMA
            name = "ValidationError" if code == "400" else "Error"
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
            self.registry.register_on_missing(component)
            response = responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            response.setdefault("content", {"application/json": {"schema": component.ref}})
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation, responses) -> list[str]:
        parameters = operation.get("parameters", [])
        takes_body = "requestBody" in operation
        codes = set()
        # A DELETE takes no body, yet a record still in use is refused with the reason (a 400).
        if takes_body or self.method in UNSAFE_METHODS or any(p["in"] == "query" for p in parameters):
            codes.add("400")
        if not self._open_to_anyone():
            codes |= {"401", "403"}
        else:
            if self.view.get_authenticators():
                codes.add("401")  # open to anyone, yet a token sent along that is unknown or revoked is refused
            if self.method in UNSAFE_METHODS:
                codes.add("403")  # a signed-in browser's POST without its CSRF token
        if any(p["in"] == "path" for p in parameters) or getattr(self.view, "answers_not_found", False):
            # a detail route, or a view that looks up a record its input names (``answers_not_found``)
            codes.add("404")
        if self.method in UNSAFE_METHODS and getattr(self.view, "answers_conflict", False):
            codes.add("409")
        if takes_body:
            codes.add("413")
        if "429" in responses or self.view.get_throttles():
            codes.add("429")
        codes.add("503")  # any operation may meet the database restarting (traf3li.core.errors)
        return sorted(codes)

    def _show_filter_lengths(self, operation):
        """A filter's ``max_length`` as its query parameter's maxLength (drf-spectacular leaves it out)."""
        filterset_class = getattr(self.view, "filterset_class", None)
        filters = getattr(filterset_class, "base_filters", {})
        for parameter in operation.get("parameters", []):
            limit = getattr(filters.get(parameter["name"]), "extra", {}).get("max_length")
            if parameter["in"] == "query" and limit and "type" in parameter.get("schema", {}):
                parameter["schema"].setdefault("maxLength", limit)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular shows a ListField's length limits, not a nested list's (``many=True``).
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            if field.max_length is not None:
                schema.setdefault("maxItems", field.max_length)
            if field.min_length is not None:
                schema.setdefault("minItems", field.min_length)
        return schema

    def _open_to_anyone(self) -> bool:
        permissions = self.view.get_permissions()
        return not permissions or all(isinstance(p, AllowAny) for p in permissions)
