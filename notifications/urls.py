from django.urls import path

from . import views

urlpatterns = [
    path(
        "webhooks/twilio/status/<int:delivery_id>",
        views.twilio_status_callback,
        name="twilio-status-callback",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("dev/utkorg/", views.dev_outbox, name="dev-outbox"),
]
