from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("logga-in/", views.login_view, name="login"),
    path("logga-ut/", views.logout_view, name="logout"),
    path("sprak/", views.switch_language, name="switch-language"),
    path("foretag/", views.company_picker, name="company-picker"),
    path("foretag/<int:company_id>/", views.company_home, name="company-home"),
    path("foretag/<int:company_id>/bevaka-arenden/", views.service_page, name="service"),
    path("foretag/<int:company_id>/mina-bevakningar/", views.my_watches, name="my-watches"),
    path("foretag/<int:company_id>/administrera-behorigheter/", views.permissions_page, name="permissions"),
    path("hjalp/bevaka-arenden/", views.help_page, name="help"),
]
