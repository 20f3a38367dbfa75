from drf_spectacular.generators import EndpointEnumerator
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from traf3li.core.context import set_context_user


class FirmViewSetMixin:
    """Makes the authenticated user the actor of every service call the request makes."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        set_context_user(request.user)


class FirmModelViewSet(FirmViewSetMixin, viewsets.ModelViewSet):
    pass


class FirmReadOnlyViewSet(FirmViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ApiRootView(APIView):
    """``/api/v1/``: a link to every endpoint that takes no id, named by its path.

    DRF's router root lists only its own router's routes (``users``); the endpoints here come from
    the same enumeration as the OpenAPI schema, so a new app's endpoints appear without a change.
    """

    schema = None  # not an operation of the API

    def get(self, request, *args, **kwargs):
        prefix = request.path_info
        endpoints = EndpointEnumerator(urlconf=getattr(request, "urlconf", None)).get_api_endpoints()
        paths = sorted({p for p, *_ in endpoints if p.startswith(prefix) and p != prefix and "{" not in p})
        return Response({path[len(prefix) :].rstrip("/"): request.build_absolute_uri(path) for path in paths})
