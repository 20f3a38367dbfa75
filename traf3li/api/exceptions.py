"""Errors the SPA can act on: 400 with DRF's shape, 404 across firms, 409 for forbidden moves."""

import re

from django.apps import apps
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ParseError
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from traf3li.api.parsers import ERROR_DEPTH
from traf3li.core.subjects import SubjectError


class Conflict(APIException):
    """A state change the current state forbids (completing a cancelled activity, paying a draft)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("This change is not allowed in the current state.")
    default_code = "conflict"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("Request body is too large.")
    default_code = "payload_too_large"


# get_object_or_404's text, which Django leaves untranslated and which names the model's class
# ("No Client …"): the same words through our catalogue, with the model's translated name.
LOOKUP_MISS = re.compile(r"^No (?P<type>\w+) matches the given query\.$")
ERROR_LOOKUP_MISS = gettext_lazy("No {type} matches the given query.")


def _model_name(object_name: str, view) -> str:
    """The verbose name of the model ``object_name`` names: the view's own, else the only model so
    called; the class name when neither tells."""
    model = getattr(getattr(view, "queryset", None), "model", None)
    if model is None or model._meta.object_name != object_name:
        named = [m for m in apps.get_models() if m._meta.object_name == object_name]
        model = named[0] if len(named) == 1 else None
    return str(model._meta.verbose_name) if model is not None else object_name


class TransitionError(Exception):
    """Raised by services for a forbidden state change; the API answers 409."""


def _raised_by_json_decoder(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is the standard library's JSON decoder."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("json")


def exception_handler(exc, context):
    if isinstance(exc, Http404) and exc.args and (miss := LOOKUP_MISS.match(str(exc.args[0]))):
        exc = NotFound(ERROR_LOOKUP_MISS.format(type=_model_name(miss["type"], context.get("view"))))
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        exc = DRFValidationError(detail)
    elif isinstance(exc, SubjectError):
        exc = DRFValidationError({"subject": [str(exc)]})
    elif isinstance(exc, TransitionError):
        exc = Conflict(str(exc))
    elif isinstance(exc, RecursionError) and _raised_by_json_decoder(exc):
        # A view that names its own parsers (DRF's ObtainAuthToken did) skips the nesting limit of
        # ``traf3li.api.parsers``: its decoder's RecursionError is the same bad body, not a bug.
        exc = ParseError(ERROR_DEPTH)
    elif isinstance(exc, RequestDataTooBig):
        # Django raises it (a SuspiciousOperation, so an HTML 400) when a form body passes
        # DATA_UPLOAD_MAX_MEMORY_SIZE; the JSON parser checks the same limit (traf3li.api.parsers).
        exc = PayloadTooLarge()
    return drf_exception_handler(exc, context)
