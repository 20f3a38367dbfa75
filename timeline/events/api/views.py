import hashlib

from django.http import HttpResponse, HttpResponseNotModified
from django.urls import reverse
from django.utils import translation
from django.utils.http import http_date, parse_http_date_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from timeline.events import selectors, services
from timeline.events.api import serializers
from timeline.events.feed import feed_calendar
from timeline.events.filtersets import EventFilterSet
from traf3li.api.views import FirmReadOnlyViewSet, FirmViewSetMixin

ERROR_NOT_YOURS = _("Only the organizer, the creator or a firm admin may change this event.")
EVENT_FIELDS = (*services.PLAIN_FIELDS, *services.TIME_FIELDS, *services.RECURRENCE_FIELDS)


class CanChangeEvent(BasePermission):
    """Everyone in the firm reads the calendar; its organizer, its creator and the firm's admins change it."""

    message = ERROR_NOT_YOURS

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS or getattr(view, "action", None) in ("rsvp",):
            return True
        series = obj.series
        user = request.user
        return user.role == "admin" or user.pk in (series.organizer_id, series.created_by_id)


def _split(validated: dict) -> tuple[dict, dict]:
    """The serializer's data as the services take it: the event's fields, and the rest by name."""
    data = {name: validated[name] for name in EVENT_FIELDS if name in validated}
    extra = {name: validated.get(name) for name in ("attendees", "agenda", "action_items", "scope", "occurrence")}
    return data, extra


class EventViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, FirmReadOnlyViewSet):
    """The firm's calendar events. A recurring event is one row (its series) plus one row per
    occurrence changed on its own (an override: ``recurrence_parent`` and ``recurrence_id``)."""

    answers_conflict = True  # a cancelled or completed event refuses edits and moves (409)

    serializer_class = serializers.EventSerializer
    filterset_class = EventFilterSet
    permission_classes = [IsAuthenticated, CanChangeEvent]
    keyset = ("start_at", "id")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.event_list()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["moment"] = selectors.firm_moment()
        return context

    def _invoice_context(self, events) -> dict:
        return {
            "invoice_statuses": selectors.invoice_statuses({e.linked_invoice_id for e in events if e.linked_invoice_id})
        }

    def _respond(self, event, status_code=200):
        event = selectors.event_list().get(pk=event.pk)
        context = {**self.get_serializer_context(), **self._invoice_context([event])}
        return Response(serializers.EventSerializer(event, context=context).data, status=status_code)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), **self._invoice_context(page)}
        return self.get_paginated_response(serializers.EventSerializer(page, many=True, context=context).data)

    def retrieve(self, request, *args, **kwargs):
        return self._respond(self.get_object())

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, extra = _split(serializer.validated_data)
        event = services.event_create(
            data=data,
            attendees=extra["attendees"] or [],
            agenda=extra["agenda"] or [],
            action_items=extra["action_items"] or [],
            actor=request.user,
        )
        return self._respond(event, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        event = self.get_object()
        serializer = self.get_serializer(event, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data, extra = _split(serializer.validated_data)
        changed = services.event_update(
            event=event,
            data=data,
            attendees=extra["attendees"],
            agenda=extra["agenda"],
            action_items=extra["action_items"],
            scope=extra["scope"] or "series",
            occurrence=extra["occurrence"],
            actor=request.user,
        )
        return self._respond(changed)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.event_delete(event=instance, actor=self.request.user)

    @extend_schema(request=serializers.EventRsvpSerializer, responses=serializers.AttendeeSerializer)
    @action(detail=True, methods=["post"])
    def rsvp(self, request, pk=None):
        """The caller's own answer to the invitation (accepted, tentative, declined); attendees only."""
        event = self.get_object()
        body = serializers.EventRsvpSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        attendee = services.event_rsvp(
            event=event,
            user=request.user,
            response=body.validated_data["response"],
            comment=body.validated_data["comment"],
            actor=request.user,
        )
        return Response(serializers.AttendeeSerializer(attendee).data)

    @extend_schema(request=serializers.EventCompleteSerializer, responses=serializers.EventSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Record the outcome; with ``follow_up_required``, a follow-up task is scheduled for the organizer."""
        event = self.get_object()
        body = serializers.EventCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        completion = services.event_complete(event=event, actor=request.user, **body.validated_data)
        return self._respond(completion.event)

    @extend_schema(request=serializers.EventCancelSerializer, responses=serializers.EventSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the event, or one occurrence of a series (it becomes an EXDATE), or this and the following."""
        event = self.get_object()
        body = serializers.EventCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(services.event_cancel(event=event, actor=request.user, **body.validated_data))

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, required=True, description="ISO-8601 date-time: the window's start."),
            OpenApiParameter("end", str, required=True, description="ISO-8601 date-time: the window's end."),
            OpenApiParameter("case", str, description="Case ids, comma-separated."),
            OpenApiParameter("type", str, description="Event types, comma-separated."),
            OpenApiParameter("status", str, description="Statuses, comma-separated."),
        ],
        responses=serializers.OccurrenceSerializer(many=True),
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def calendar(self, request):
        """The caller's occurrences (as creator, organizer or attendee) within the window, recurring
        events expanded, sorted by start. At most 400 days and 5,000 occurrences (else 400)."""
        query = serializers.CalendarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = selectors.calendar_for(
            user=request.user,
            start=query.validated_data["start"],
            end=query.validated_data["end"],
            filters=query.validated_data,
        )
        context = self.get_serializer_context()
        return Response(serializers.OccurrenceSerializer(found, many=True, context=context).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("user", int, description="A user id; the caller by default."),
            OpenApiParameter("start", str, required=True),
            OpenApiParameter("end", str, required=True),
        ],
        responses=serializers.OccurrenceSerializer(many=True),
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def conflicts(self, request):
        """The user's occurrences overlapping the window (declined invitations and cancelled events
        left out): hearings and court dates first, then by start."""
        query = serializers.ConflictsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = selectors.conflicts_for(
            user=query.validated_data.get("user") or request.user,
            start=query.validated_data["start"],
            end=query.validated_data["end"],
        )
        return Response(serializers.OccurrenceSerializer(found, many=True, context=self.get_serializer_context()).data)


class CalendarFeedView(FirmViewSetMixin, APIView):
    """The caller's iCalendar feed URL: POST issues a new one (the old one stops working), DELETE revokes it."""

    @extend_schema(request=None, responses={201: serializers.CalendarFeedSerializer})
    def post(self, request):
        _feed, token = services.feed_token_issue(user=request.user, actor=request.user)
        url = request.build_absolute_uri(reverse("calendar-feed", kwargs={"token": token}))
        return Response({"url": url, "token": token}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        services.feed_token_revoke(user=request.user, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _etag(feed, count: int, latest) -> str:
    body = f"{feed.pk}:{count}:{latest.isoformat()}:{translation.get_language()}"
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


@require_GET
def calendar_feed(request, token: str):
    """``GET /calendar/<token>.ics``: the token's user's calendar, answered 304 when unchanged.

    An unknown or revoked token is a 404, on every host: tokens live in the firm's own schema.
    """
    feed = selectors.feed_token_lookup(services.feed_token_hash(token))
    if feed is None:
        return HttpResponse(status=404, content_type="text/plain")
    count, latest = selectors.feed_fingerprint(feed=feed)
    etag = _etag(feed, count, latest)
    last_modified = int(latest.timestamp())
    headers = {"ETag": etag, "Last-Modified": http_date(last_modified), "Cache-Control": "private, max-age=300"}
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if etag in [tag.strip() for tag in if_none_match.split(",")] or if_none_match.strip() == "*":
            return HttpResponseNotModified(headers=headers)
    else:
        since = parse_http_date_safe(request.headers.get("If-Modified-Since") or "")
        if since is not None and last_modified <= since:
            return HttpResponseNotModified(headers=headers)
    moment = selectors.firm_moment()
    body = feed_calendar(
        events=selectors.feed_events(user=feed.user, now=moment.now),
        name=f"{request.tenant.name}: {feed.user.display_name}",
        today=moment.today,
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8", headers=headers)
    response["Content-Disposition"] = 'inline; filename="calendar.ics"'
    return response
