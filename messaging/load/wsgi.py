"""The product's WSGI application, plus the load harness's ceiling: ``GET /loadtest/ceiling/``.

The ceiling is a trivial JSON view on a firm's host behind the whole stack an API request crosses
(the middleware, the host's firm, token authentication, DRF's rendering) and nothing else: no query
of its own. What the server answers of it per second is the framework's ceiling on this machine,
the figure the 360° page's throughput is held against (ADR 0038). Only the harness's gunicorn
serves it (``gunicorn messaging.load.wsgi``); the product's URLs never include it.
"""

from traf3li.wsgi import application  # sets Django up: import the rest only after it


def _mount() -> None:
    from django.urls import path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from messaging.load.traffic import CEILING_PATH
    from traf3li import urls_tenant

    class CeilingView(APIView):
        def get(self, request):
            return Response({"ok": True})

    urls_tenant.urlpatterns.insert(0, path(CEILING_PATH.lstrip("/"), CeilingView.as_view()))


_mount()
__all__ = ["application"]
