"""The URLs of the `webhooks` processes (``bevaka.settings_webhooks``): Twilio's status callback and
/healthz, at the same paths as in ``bevaka.urls``; anything else is a 404 there."""

from django.urls import path

from notifications import views

urlpatterns = [
    path(
        "webhooks/twilio/status/<int:delivery_id>",
        views.twilio_status_callback,
        name="twilio-status-callback",
    ),
    path("healthz", views.healthz, name="healthz"),
]
