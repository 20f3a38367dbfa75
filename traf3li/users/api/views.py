from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from traf3li.api.permissions import IsFirmAdmin
from traf3li.api.serializers import BuiltOnceMixin
from traf3li.api.views import FirmReadOnlyViewSet, FirmViewSetMixin
from traf3li.core import throttle
from traf3li.users.filtersets import ApiTokenFilterSet
from traf3li.users.models import ApiToken, User
from traf3li.users.selectors import api_tokens_visible
from traf3li.users.services import api_token_issue, api_token_revoke, api_token_revoke_all, user_create, user_update


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


class TokenIssuedSerializer(serializers.ModelSerializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. Shown only here, once.")

    class Meta:
        model = ApiToken
        fields = ["token", "id", "prefix", "expires_at"]


class TokenView(FirmViewSetMixin, APIView):
    """``POST {"username", "password"}`` → ``{"token"}``; users live in the firm of the host.

    Each login issues a new token (ADR 0036), stored hashed: the response is the only place it is shown.
    """

    permission_classes = []  # anyone may try to log in (the throttle slows guessing)
    throttle_classes = []

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else super().get_permissions()

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: TokenIssuedSerializer,
            400: OpenApiResponse(description="Wrong username or password, or one of them missing."),
            429: OpenApiResponse(description="Too many failed logins for this username or client: see Retry-After."),
        },
    )
    def post(self, request, *args, **kwargs):
        username = str(request.data.get("username", "")) if hasattr(request.data, "get") else ""
        seconds = throttle.blocked_for(request, username)
        if seconds:
            return throttle.too_many(seconds)
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        throttle.succeeded(request, username)
        issued, issued.token = api_token_issue(user=user, actor=user)
        # A secret: no cache, proxy or browser history keeps the answer (RFC 6749 5.1 asks the same).
        return Response(TokenIssuedSerializer(issued).data, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses={204: OpenApiResponse(description="The token of this request is revoked.")})
    def delete(self, request, *args, **kwargs):
        """Log out: the token this request was made with stops working."""
        if isinstance(request.auth, ApiToken):
            api_token_revoke(token=request.auth, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as lists show it: never the token itself (nor its hash), only its first characters."""

    active = serializers.BooleanField(source="is_active", read_only=True)
    current = serializers.SerializerMethodField(help_text="Whether this request was made with this token.")

    class Meta:
        model = ApiToken
        fields = ["id", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "active", "current"]
        read_only_fields = fields

    def get_current(self, token) -> bool:
        auth = getattr(self.context.get("request"), "auth", None)
        return isinstance(auth, ApiToken) and auth.pk == token.pk


class RevokeAllSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, help_text="An admin's choice of user; yours when left out."
    )


class ApiTokenViewSet(FirmViewSetMixin, mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your API tokens (a firm admin: every user's of the firm). DELETE revokes one; nothing is shown of the secret."""

    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilterSet
    keyset = ("created_at", "id")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's generator, with no user
            return ApiToken.objects.none()
        return api_tokens_visible(self.request.user)

    @extend_schema(responses={204: OpenApiResponse(description="Revoked (or it was already).")})
    def destroy(self, request, *args, **kwargs):
        api_token_revoke(token=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=RevokeAllSerializer,
        responses=inline_serializer("TokensRevoked", {"revoked": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="revoke-all", filterset_class=None, pagination_class=None)
    def revoke_all(self, request):
        """Log out everywhere: every working token of yours (or, for an admin, of ``user``) stops working."""
        serializer = RevokeAllSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data.get("user", request.user)
        if user.pk != request.user.pk and not request.user.is_firm_admin:
            self.permission_denied(request, message=IsFirmAdmin.message)
        return Response({"revoked": api_token_revoke_all(user=user, actor=request.user)})


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
