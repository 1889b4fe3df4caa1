from django.urls import path

from . import views

# Twilio's status callback and the health check: also all that the `webhooks` processes serve
# (bevaka/urls_webhooks.py).
webhook_urlpatterns = [
    path(
        "webhooks/twilio/status/<int:delivery_id>",
        views.twilio_status_callback,
        name="twilio-status-callback",
    ),
    path("healthz", views.healthz, name="healthz"),
]

urlpatterns = [
    *webhook_urlpatterns,
    path("dev/utkorg/", views.dev_outbox, name="dev-outbox"),
]
