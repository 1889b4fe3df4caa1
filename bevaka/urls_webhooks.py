"""The URLs of the `webhooks` processes (``bevaka.settings_webhooks``): Twilio's status callback and
/healthz, at the same paths as in ``bevaka.urls``; anything else is a 404 there."""

from notifications.urls import webhook_urlpatterns

urlpatterns = webhook_urlpatterns
