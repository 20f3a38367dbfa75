from rest_framework.routers import DefaultRouter

from messaging.api import views

router = DefaultRouter(trailing_slash=True)
router.register("channel-accounts", views.ChannelAccountViewSet, basename="channel-account")

app_name = "messaging-api"
urlpatterns = router.urls
