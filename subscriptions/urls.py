from django.urls import path

from . import views

base = "foretag/<int:company_id>/mina-bevakningar/"

urlpatterns = [
    path(base, views.my_watches, name="my-watches"),
    path(f"{base}andra/", views.edit_watches, name="edit-watches"),
    path(f"{base}kontaktuppgift/", views.change_contact, name="change-contact"),
    path(f"{base}kontaktuppgift/kod/", views.confirm_contact, name="confirm-contact"),
    path(f"{base}kontaktuppgift/ta-bort/", views.remove_contact, name="remove-contact"),
    path(f"{base}sprak/", views.alert_language, name="alert-language"),
]
