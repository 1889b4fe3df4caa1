from django.urls import path

from . import ledger_views, views

# Twilio's status callback: with the health endpoints (bevaka/health.py) all that the `webhooks` processes
# serve (bevaka/urls_webhooks.py).
webhook_urlpatterns = [
    path(
        "webhooks/twilio/status/<int:delivery_id>",
        views.twilio_status_callback,
        name="twilio-status-callback",
    ),
]

urlpatterns = [
    *webhook_urlpatterns,
    path("dev/utkorg/", views.dev_outbox, name="dev-outbox"),
    path(
        "foretag/<int:company_id>/administrera-behorigheter/utskick/",
        ledger_views.delivery_ledger,
        name="delivery-ledger",
    ),
    path(
        "foretag/<int:company_id>/administrera-behorigheter/utskick.csv",
        ledger_views.delivery_ledger_csv,
        name="delivery-ledger-csv",
    ),
]
