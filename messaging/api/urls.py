from django.urls import path
from rest_framework.routers import DefaultRouter

from messaging.api import inbox, messages, metrics, views
from messaging.api.email import EmailCampaignViewSet

router = DefaultRouter(trailing_slash=True)
router.register("channel-accounts", views.ChannelAccountViewSet, basename="channel-account")
router.register("email/campaigns", EmailCampaignViewSet, basename="email-campaign")
# Triage inbox, WhatsApp and SMS (read-only).
router.register("whatsapp/messages", messages.WhatsAppMessageViewSet, basename="whatsapp-message")
router.register("sms/messages", messages.SmsMessageViewSet, basename="sms-message")
inbox_urls = [
    path("inbox/unmatched/", inbox.UnmatchedListView.as_view(), name="inbox-unmatched"),
    path("inbox/unmatched/link/", inbox.UnmatchedLinkView.as_view(), name="inbox-unmatched-link"),
    path("whatsapp/conversations/", messages.WhatsAppConversationListView.as_view(), name="whatsapp-conversations"),
    path("whatsapp/response-time/", metrics.WhatsAppResponseTimeView.as_view(), name="whatsapp-response-time"),
]

app_name = "messaging-api"
urlpatterns = router.urls + inbox_urls
