from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bevaka.http import client_ip
from throttling import services as throttling

from .forms import LanguageForm, PersonnummerLoginForm
from .models import Membership
from .selectors import access_membership, memberships_of

CURRENT_COMPANY_SESSION_KEY = "current_company_id"


def _set_language_cookie(response: HttpResponse, language: str) -> HttpResponse:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Log in by personnummer alone. Exists only with DEBUG on, for development and the demo."""
    if request.method == "POST" and not settings.DEBUG:
        raise Http404("the personnummer login exists only with DEBUG on")
    form = PersonnummerLoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        address = client_ip(request) or "unknown"
        try:
            throttling.check(limit=throttling.LOGIN_ADDRESS, key=address)
            if form.is_valid():
                throttling.check(limit=throttling.LOGIN_PERSON, key=form.cleaned_data["personnummer"])
        except throttling.Blocked as blocked:
            form.is_valid()
            form.add_error(None, str(blocked))
            return render(request, "companies/login.html", {"form": form, "debug_login": True}, status=429)
        user = None
        if form.is_valid():
            personnummer = form.cleaned_data["personnummer"]
            user = get_user_model().objects.filter(personnummer=personnummer, is_active=True).first()
            if user is None:
                throttling.record_failure(limit=throttling.LOGIN_PERSON, key=personnummer)
                form.add_error("personnummer", _("Det finns ingen användare med det personnumret."))
        if user is None:
            throttling.record_failure(limit=throttling.LOGIN_ADDRESS, key=address)
            status = 400
        else:
            throttling.record_success(limit=throttling.LOGIN_PERSON, key=user.personnummer)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            translation.activate(user.language)
            return _set_language_cookie(redirect("company-picker"), user.language)
    return render(request, "companies/login.html", {"form": form, "debug_login": settings.DEBUG}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Change the screen's language, and remember it as the user's language for the pages (the next login
    starts in it). Alerts have their own setting, ``User.alert_language`` (Mina bevakningar)."""
    form = LanguageForm(request.POST)
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    if not form.is_valid():
        return HttpResponseRedirect(next_url)
    language = form.cleaned_data["language"]
    if request.user.is_authenticated and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    return _set_language_cookie(HttpResponseRedirect(next_url), language)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("company-picker")
    return redirect("login")


@login_required
@require_GET
def company_picker(request: HttpRequest) -> HttpResponse:
    """Choose which company to act for. With one company, go straight to it."""
    memberships = list(memberships_of(user=request.user))
    if len(memberships) == 1 and "byt" not in request.GET:
        return redirect("service", company_id=memberships[0].company_id)
    return render(request, "companies/company_picker.html", {"memberships": memberships})


def company_context(request: HttpRequest, membership: Membership, **extra) -> dict:
    """What every company page's layout needs: the company, the membership, whether to offer a switch."""
    request.session[CURRENT_COMPANY_SESSION_KEY] = membership.company_id
    return {
        "membership": membership,
        "company": membership.company,
        "has_several_companies": memberships_of(user=request.user).count() > 1,
        **extra,
    }


@login_required
@require_GET
def company_home(request: HttpRequest, company_id: int) -> HttpResponse:
    access_membership(user=request.user, company_id=company_id)
    return redirect("service", company_id=company_id)


@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    """The bank's help page for Bevaka ärenden, with Skriv ut and Stäng."""
    back = request.GET.get("tillbaka", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = ""
    return render(request, "help/bevaka_arenden.html", {"back_url": back or reverse("home")})
