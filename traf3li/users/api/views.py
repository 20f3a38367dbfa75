from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.serializers import BuiltOnceMixin
from traf3li.api.views import FirmReadOnlyViewSet
from traf3li.core import throttle
from traf3li.users.models import User
from traf3li.users.services import user_create, user_update


class UserSerializer(BuiltOnceMixin, serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    password = serializers.CharField(write_only=True, min_length=8)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "name",
            "first_name",
            "last_name",
            "email",
            "role",
            "language",
            "is_active",
            "password",
        ]
        read_only_fields = ["is_active"]


class TokenView(ObtainAuthToken):
    """``POST {"username", "password"}`` → ``{"token"}``; users live in the firm of the host."""

    # ObtainAuthToken names its own parsers; take the project's, whose JSON parser limits nesting.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    @extend_schema(
        responses={
            200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
            429: OpenApiResponse(description="Too many failed logins for this username or client: see Retry-After."),
        }
    )
    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", "")) if hasattr(request.data, "get") else ""
        seconds = throttle.blocked_for(request, username)
        if seconds:
            return throttle.too_many(seconds)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            throttle.succeeded(request, username)
        return response


class PreferencesSerializer(serializers.ModelSerializer):
    """What people may change about themselves: their language (blank follows the firm's default)."""

    class Meta:
        model = User
        fields = ["language"]


class MeView(APIView):
    @extend_schema(responses=UserSerializer)
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=PreferencesSerializer, responses=UserSerializer)
    def patch(self, request):
        serializer = PreferencesSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user_update(user=request.user, data=serializer.validated_data, actor=request.user)
        return Response(UserSerializer(request.user).data)


class UserViewSet(mixins.CreateModelMixin, FirmReadOnlyViewSet):
    """The firm's people, for assignee and lawyer pickers. Only admins add people."""

    serializer_class = UserSerializer
    keyset = ("date_joined", "id")
    filterset_fields = ["role", "is_active"]

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticated()]
        return [IsFirmAdmin()]

    def get_queryset(self):
        return User.objects.all()

    def perform_create(self, serializer):
        serializer.instance = user_create(actor=self.request.user, **serializer.validated_data)
