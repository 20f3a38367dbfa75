from rest_framework.routers import DefaultRouter

from traf3li.crm.api import views

router = DefaultRouter(trailing_slash=True)
router.register("clients", views.ClientViewSet, basename="client")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("leads", views.LeadViewSet, basename="lead")
router.register("cases", views.CaseViewSet, basename="case")
router.register("organizations", views.OrganizationViewSet, basename="organization")

app_name = "crm-api"
urlpatterns = router.urls
