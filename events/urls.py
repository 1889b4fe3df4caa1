from django.urls import path, re_path

from . import views

urlpatterns = [
    path("api/v1/events", views.ingest_event, name="api-events"),
    path("api/v1/events/batch", views.ingest_batch, name="api-events-batch"),
    path("api/v1/openapi.json", views.openapi, name="api-openapi"),
    re_path(r"^api/v1/(?P<path>.*)$", views.not_found),
]
