"""The URLs of the `webhooks` processes (``bevaka.settings_webhooks``): Twilio's status callback and the
health endpoints, at the same paths as in ``bevaka.urls``; anything else is a 404 there."""

from bevaka.health import urlpatterns as health_urlpatterns
from notifications.urls import webhook_urlpatterns

urlpatterns = [*webhook_urlpatterns, *health_urlpatterns]
