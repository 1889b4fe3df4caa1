from django.urls import path

from . import views

app_name = "agreements"

base = "foretag/<int:company_id>/bevaka-arenden/"

urlpatterns = [
    path(f"{base}anslut/", views.connect, name="connect"),
    path(f"{base}andra-avtal/", views.change, name="change"),
    path(f"{base}signera/<slug:proposal_id>/", views.sign, name="sign"),
    path(f"{base}signerat/<slug:proposal_id>/", views.signed, name="signed"),
    path(f"{base}vantande/<int:pending_id>/signera/", views.cosign, name="cosign"),
    path(f"{base}vantande/<int:pending_id>/aterkalla/", views.withdraw, name="withdraw"),
    path(f"{base}vantande/<int:pending_id>/kvittens/", views.pending_receipt, name="pending-receipt"),
    path(f"{base}kvittens/<int:version_id>/", views.receipt, name="receipt"),
    path(f"{base}kvittens/<int:version_id>/bevis.zip", views.evidence_bundle, name="evidence-bundle"),
    path(f"{base}avsluta/", views.end, name="end"),
    path(f"{base}avslutat/<int:agreement_id>/", views.end_receipt, name="end-receipt"),
]

# The two pages the rest of the site links to by their plain names.
service_urlpatterns = [
    path(base, views.service_page, name="service"),
    path("foretag/<int:company_id>/administrera-behorigheter/", views.permissions_page, name="permissions"),
]
