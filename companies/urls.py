from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("logga-in/", views.login_view, name="login"),
    path("logga-ut/", views.logout_view, name="logout"),
    path("sprak/", views.switch_language, name="switch-language"),
    path("foretag/", views.company_picker, name="company-picker"),
    path("foretag/<int:company_id>/", views.company_home, name="company-home"),
    path("hjalp/bevaka-arenden/", views.help_page, name="help"),
]
