from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from agreements.urls import service_urlpatterns
from bevaka.health import urlpatterns as health_urlpatterns
from bevaka.metrics import metrics
from companies.forms import ThrottledAdminAuthenticationForm
from notifications.dashboard import dashboard

admin.site.site_header = _("Bevaka ärenden – bankens administration")
admin.site.site_title = _("Bevaka ärenden")
# The password form is throttled like every login (five wrong in a row for one person, then a block).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("admin/driftoversikt/", admin.site.admin_view(dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("", include("companies.urls")),
    path("", include("signing.urls")),
    path("", include("notifications.urls")),
    path("", include("agreements.urls")),
    path("", include(service_urlpatterns)),
    path("", include("subscriptions.urls")),
    path("", include("events.urls")),
    path("metrics", metrics, name="metrics"),
    *health_urlpatterns,
]
