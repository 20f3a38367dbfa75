from django.db.models.deletion import ProtectedError
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response

from timeline.activities import selectors, services
from timeline.activities.api import serializers
from timeline.activities.api.pagination import SoonestFirstPagination
from timeline.activities.deadlines import firm_today
from timeline.activities.filtersets import ActivityFilterSet, ActivityTypeFilterSet, NotificationFilterSet
from timeline.activities.models import Notification
from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.views import FirmModelViewSet, FirmReadOnlyViewSet

ERROR_TYPE_IN_USE = gettext_lazy("Activities or other types still use this type.")


class ActivityTypeViewSet(FirmModelViewSet):
    """The firm's activity types. Everyone reads them; admins change them."""

    serializer_class = serializers.ActivityTypeSerializer
    filterset_class = ActivityTypeFilterSet
    keyset = ("created_at", "id")

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticated()]
        return [IsFirmAdmin()]

    def get_queryset(self):
        return selectors.activity_type_list()

    def perform_create(self, serializer):
        instance = serializer.Meta.model(**serializer.validated_data)
        serializer.instance = services.activity_type_create(instance=instance, actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.activity_type_update(
            instance=serializer.instance, data=serializer.validated_data, actor=self.request.user
        )

    def perform_destroy(self, instance):
        try:
            services.activity_type_delete(instance=instance, actor=self.request.user)
        except ProtectedError:
            raise ValidationError({"detail": ERROR_TYPE_IN_USE})


class ActivityViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    FirmReadOnlyViewSet,
):
    """Scheduled activities on any subject. They are never deleted: cancel one instead."""

    answers_conflict = True  # done or cancelled activities refuse moves (409)

    serializer_class = serializers.ActivitySerializer
    filterset_class = ActivityFilterSet
    keyset = ("created_at", "id")
    # No PUT (subject, type, deadline and assignee change through actions) and no DELETE (history stays).
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.activity_list()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["today"] = firm_today()
        return context

    def _respond(self, activity, status=200):
        return Response(self.get_serializer(activity).data, status=status)

    def perform_create(self, serializer):
        data = serializer.validated_data
        fields = {name: data[name] for name in services.SCHEDULE_FIELDS if name in data}
        # As in Odoo, an activity scheduled without an assignee is the scheduler's own to do.
        fields.setdefault("assignee", self.request.user)
        serializer.instance = services.activity_schedule(actor=self.request.user, **fields)

    def perform_update(self, serializer):
        serializer.instance = services.activity_update(
            activity=serializer.instance, data=serializer.validated_data, actor=self.request.user
        )

    @extend_schema(request=serializers.CompleteSerializer, responses=serializers.CompletionSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Mark done with feedback; returns the follow-up the type triggers or suggests as ``next``."""
        activity = self.get_object()  # another firm's id is 404 before its body is even read
        body = serializers.CompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        completion = services.activity_complete(
            activity=activity, feedback=body.validated_data["feedback"], actor=request.user
        )
        return Response(serializers.CompletionSerializer(completion, context=self.get_serializer_context()).data)

    @extend_schema(request=serializers.RescheduleSerializer, responses=serializers.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        activity = self.get_object()
        body = serializers.RescheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        activity = services.activity_reschedule(
            activity=activity, deadline=body.validated_data["deadline"], actor=request.user
        )
        return self._respond(activity)

    @extend_schema(request=None, responses=serializers.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.activity_cancel(activity=self.get_object(), actor=request.user))

    @extend_schema(request=serializers.ReassignSerializer, responses=serializers.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        activity = self.get_object()
        body = serializers.ReassignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        activity = services.activity_reassign(
            activity=activity, assignee=body.validated_data["assignee"], actor=request.user
        )
        return self._respond(activity)

    @extend_schema(
        parameters=[OpenApiParameter("assignee", int, description="A user id; omit for the whole firm.")],
        responses=serializers.StatsSerializer,
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def stats(self, request):
        """The SLA counters, firm-wide or for one assignee, by the firm's today."""
        query = serializers.StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        assignee = query.validated_data.get("assignee")
        stats = selectors.activity_stats(assignee_id=assignee.pk if assignee else None)
        return Response(serializers.StatsSerializer(stats).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("days", int, description="How many days ahead, from the firm's today (default 7).")
        ],
        responses=serializers.ActivitySerializer(many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=SoonestFirstPagination, keyset=("deadline", "id"))
    def upcoming(self, request):
        """Scheduled activities due from today through the next ``days`` days, soonest first."""
        query = serializers.UpcomingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = self.filter_queryset(selectors.activity_upcoming(days=query.validated_data["days"]))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class NotificationViewSet(FirmReadOnlyViewSet):
    """The signed-in user's own in-app notifications (activity reminders), newest first."""

    serializer_class = serializers.NotificationSerializer
    filterset_class = NotificationFilterSet
    keyset = ("created_at", "id")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Notification.objects.none()
        return selectors.notification_list(user=self.request.user)

    @extend_schema(request=None, responses=serializers.NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = services.notification_mark_read(notification=self.get_object(), actor=request.user)
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses={200: {"type": "object", "properties": {"marked": {"type": "integer"}}}})
    @action(detail=False, methods=["post"], url_path="read-all", filterset_class=None)
    def read_all(self, request):
        return Response({"marked": services.notification_mark_all_read(user=request.user, actor=request.user)})
