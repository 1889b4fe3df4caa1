from django.urls import path

from . import views

app_name = "signing"

urlpatterns = [
    path("signera/<uuid:order_id>/", views.sign_page, name="sign"),
    path("signera/<uuid:order_id>/status/", views.sign_status, name="status"),
    path("signera/<uuid:order_id>/svar/", views.sign_answer, name="answer"),
    path("signera/<uuid:order_id>/avbryt/", views.sign_cancel, name="cancel"),
    path("bankid/logga-in/", views.login_start, name="login-start"),
    path("bankid/logga-in/<uuid:order_id>/", views.login_wait, name="login-wait"),
    path("bankid/logga-in/<uuid:order_id>/status/", views.login_status, name="login-status"),
    path("bankid/logga-in/<uuid:order_id>/klar/", views.login_finish, name="login-finish"),
    path("session/aktiv/", views.session_alive, name="session-alive"),
]
