from rest_framework import viewsets

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
