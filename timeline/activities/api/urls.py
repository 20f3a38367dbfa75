from rest_framework.routers import DefaultRouter

from timeline.activities.api import views

router = DefaultRouter(trailing_slash=True)
router.register("activity-types", views.ActivityTypeViewSet, basename="activity-type")
router.register("activities", views.ActivityViewSet, basename="activity")
router.register("notifications", views.NotificationViewSet, basename="notification")

app_name = "activities-api"
urlpatterns = router.urls
