"""The sign page (``/signera/<uuid>/``), its JSON status, the token answer, cancel, and BankID login."""

from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bevaka.http import client_ip
from companies.models import Membership
from companies.views import company_context
from throttling import services as throttling

from . import rfa
from .bankid import qr_data
from .evidence import complete_login
from .middleware import record_activity
from .models import SignatureOrder, SigningMethod
from .services import (
    SigningError,
    answer_token_challenge,
    cancel_signature,
    poll_order,
    start_login,
)

LOGIN_ORDER_SESSION_KEY = "signing_login_order"
LAUNCHES = {"qr", "mobile", "desktop"}


def _client_ip(request: HttpRequest) -> str:
    # BankID requires an address; a request without one (a test client) gives the loopback's.
    return client_ip(request) or "127.0.0.1"


def _safe_return(request: HttpRequest, url: str) -> str:
    return url if url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()) else "/"


def _qr_uri(order: SignatureOrder) -> str | None:
    """The current animated QR code as an SVG data URI, while the order waits to be picked up."""
    if (
        order.method != SigningMethod.BANKID_MOBILE
        or not order.is_pending
        or order.hint_code != "outstandingTransaction"
        or not order.order_time
    ):
        return None
    seconds = (timezone.now() - order.order_time).total_seconds()
    return segno.make(qr_data(order.qr_start_token, order.qr_start_secret, seconds), error="l").svg_data_uri(
        scale=5, border=2
    )


def _qr_payload(order: SignatureOrder) -> str:
    seconds = (timezone.now() - order.order_time).total_seconds() if order.order_time else 0
    return qr_data(order.qr_start_token, order.qr_start_secret, seconds)


def _autostart_url(request: HttpRequest, order: SignatureOrder, back: str) -> str:
    """BankID's autostart link: the desktop app (card) or the mobile app; the mock's app in development."""
    if order.method == SigningMethod.BANKID_CARD:
        base, target = settings.BANKID_APP_URL or "bankid:///", "null"
    else:
        base, target = settings.BANKID_APP_URL or "https://app.bankid.com/", request.build_absolute_uri(back)
    return f"{base}?{urlencode({'autostarttoken': order.auto_start_token, 'redirect': target})}"


# What the security token's user got wrong: shown and announced as an error (issue 18), not as an instruction.
TOKEN_ERRORS = {"TOKEN_WRONG_RESPONSE", "TOKEN_TOO_MANY_ATTEMPTS", "TOKEN_LOCKED", "TOKEN_CHALLENGE_EXPIRED"}


def _instruction(order: SignatureOrder) -> str:
    """The message for the page's box of instructions; a token error goes to the error box instead."""
    return rfa.message(order.message_code) if order.message_code and order.message_code not in TOKEN_ERRORS else ""


def _status_payload(order: SignatureOrder, *, done_url: str) -> dict:
    return {
        "status": order.status,
        "hintCode": order.hint_code or None,
        "messageCode": order.message_code,
        "message": _instruction(order),
        "qr": _qr_uri(order),
        "qrData": _qr_payload(order) if _qr_uri(order) else None,
        # Only success goes on; a failure stays on the page (reloaded) to show BankID's message.
        "redirect": done_url if order.status == SignatureOrder.Status.COMPLETE else None,
    }


def _own_sign_order(request: HttpRequest, order_id) -> SignatureOrder:
    return get_object_or_404(SignatureOrder, pk=order_id, user=request.user, kind=SignatureOrder.Kind.SIGN)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@login_required
@never_cache
@require_GET
def sign_page(request: HttpRequest, order_id) -> HttpResponse:
    """Show exactly the text being signed and run the method's flow. Only the order's own user (404)."""
    order = _own_sign_order(request, order_id)
    launch = request.GET.get("launch") if request.GET.get("launch") in LAUNCHES else None
    order = poll_order(order_id=order.pk, launch=launch)
    if order.status == SignatureOrder.Status.COMPLETE:
        return HttpResponseRedirect(_safe_return(request, order.return_url))
    return render(request, "signing/sign.html", _sign_context(request, order))


def _company_layout(request: HttpRequest, order: SignatureOrder) -> dict:
    """The company's name and menu around the page, when the order signs something of a company the user
    is a member of (``object_ref`` "company:<id>"); nothing otherwise."""
    kind, _sep, company_id = order.object_ref.partition(":")
    if kind != "company" or not company_id.isdigit():
        return {}
    membership = (
        Membership.objects.select_related("company").filter(user=request.user, company_id=int(company_id)).first()
    )
    return company_context(request, membership, nav="service") if membership else {}


def _sign_context(request: HttpRequest, order: SignatureOrder, **extra) -> dict:
    here = reverse("signing:sign", args=[order.pk])
    return {
        **_company_layout(request, order),
        "order": order,
        "methods": SigningMethod,
        "message": _instruction(order),
        "error": rfa.message(order.message_code) if order.message_code in TOKEN_ERRORS else "",
        "qr": _qr_uri(order),
        "qr_payload": _qr_payload(order) if _qr_uri(order) else "",
        "autostart_url": _autostart_url(request, order, here) if order.is_bankid and order.is_pending else "",
        "status_url": reverse("signing:status", args=[order.pk]),
        "challenge": f"{order.challenge[:4]} {order.challenge[4:]}" if order.challenge else "",
        "return_url": _safe_return(request, order.return_url),
        **extra,
    }


@login_required
@never_cache
@require_GET
def sign_status(request: HttpRequest, order_id) -> JsonResponse:
    """JSON for the page's 2-second poll: status, hint, the user message, the current QR code."""
    order = _own_sign_order(request, order_id)
    launch = request.GET.get("launch") if request.GET.get("launch") in LAUNCHES else None
    order = poll_order(order_id=order.pk, launch=launch)
    return _no_store(JsonResponse(_status_payload(order, done_url=_safe_return(request, order.return_url))))


@login_required
@require_POST
def sign_answer(request: HttpRequest, order_id) -> HttpResponse:
    """The security token's response to the challenge."""
    order = _own_sign_order(request, order_id)
    try:
        order = answer_token_challenge(order_id=order.pk, user=request.user, response=request.POST.get("svar", ""))
    except SigningError as exc:
        return render(request, "signing/sign.html", _sign_context(request, order, error=str(exc)), status=400)
    if order.status == SignatureOrder.Status.COMPLETE:
        return HttpResponseRedirect(_safe_return(request, order.return_url))
    return render(request, "signing/sign.html", _sign_context(request, order), status=400)


@login_required
@require_POST
def sign_cancel(request: HttpRequest, order_id) -> HttpResponse:
    """Avbryt: cancel the order (at BankID too) and go back to where the signature was asked for."""
    order = _own_sign_order(request, order_id)
    cancel_signature(order_id=order.pk, user=request.user)
    if request.POST.get("beacon"):
        return HttpResponse(status=204)
    return HttpResponseRedirect(_safe_return(request, order.return_url))


# --- login with BankID -------------------------------------------------------------------------------


@require_POST
def login_start(request: HttpRequest) -> HttpResponse:
    """Start a BankID identification: QR on another device, or BankID on this device."""
    from django.contrib import messages

    this_device = request.POST.get("enhet") == "denna"
    if not request.session.session_key:
        request.session.save()
    session_key, address = request.session.session_key, _client_ip(request)
    try:
        # Five starts in a row in this browser without a finished login, or many from one address: a block.
        throttling.check(limit=throttling.BANKID_LOGIN_SESSION, key=session_key)
        throttling.check(limit=throttling.BANKID_LOGIN_ADDRESS, key=address)
    except throttling.Blocked as blocked:
        messages.error(request, str(blocked))
        return redirect("login")
    throttling.record_failure(limit=throttling.BANKID_LOGIN_SESSION, key=session_key)
    throttling.record_failure(limit=throttling.BANKID_LOGIN_ADDRESS, key=address)
    try:
        order = start_login(
            end_user_ip=address,
            return_url=request.build_absolute_uri(reverse("login")),
            previous_order_id=request.session.get(LOGIN_ORDER_SESSION_KEY),
        )
    except SigningError as exc:
        messages.error(request, str(exc))
        return redirect("login")
    request.session[LOGIN_ORDER_SESSION_KEY] = str(order.pk)
    url = reverse("signing:login-wait", args=[order.pk])
    return redirect(f"{url}?launch=mobile" if this_device else url)


def _session_login_order(request: HttpRequest, order_id) -> SignatureOrder:
    if request.session.get(LOGIN_ORDER_SESSION_KEY) != str(order_id):
        raise Http404("not this session's login")
    return get_object_or_404(SignatureOrder, pk=order_id, kind=SignatureOrder.Kind.AUTH)


@never_cache
@require_GET
def login_wait(request: HttpRequest, order_id) -> HttpResponse:
    order = _session_login_order(request, order_id)
    launch = request.GET.get("launch") if request.GET.get("launch") in LAUNCHES else None
    order = poll_order(order_id=order.pk, launch=launch)
    if order.status == SignatureOrder.Status.COMPLETE:
        return redirect("signing:login-finish", order_id=order.pk)
    here = reverse("signing:login-wait", args=[order.pk])
    context = {
        "order": order,
        "launch": launch or "qr",
        "message": rfa.message(order.message_code) if order.message_code else "",
        "qr": _qr_uri(order) if launch != "mobile" else None,
        "qr_payload": _qr_payload(order) if launch != "mobile" and _qr_uri(order) else "",
        "autostart_url": _autostart_url(request, order, here) if order.is_pending else "",
        "status_url": reverse("signing:login-status", args=[order.pk]),
    }
    return render(request, "signing/login_wait.html", context)


@never_cache
@require_GET
def login_status(request: HttpRequest, order_id) -> JsonResponse:
    order = _session_login_order(request, order_id)
    launch = request.GET.get("launch") if request.GET.get("launch") in LAUNCHES else None
    order = poll_order(order_id=order.pk, launch=launch)
    payload = _status_payload(order, done_url=reverse("signing:login-finish", args=[order.pk]))
    return _no_store(JsonResponse(payload))


@never_cache
@require_GET
def login_finish(request: HttpRequest, order_id) -> HttpResponse:
    """Log in the person BankID identified (once). ``login`` gives the session a new id."""
    _session_login_order(request, order_id)
    from django.contrib import messages

    try:
        user = complete_login(order_id=order_id)
    except SigningError as exc:
        messages.error(request, str(exc))
        return redirect("login")
    request.session.pop(LOGIN_ORDER_SESSION_KEY, None)
    # The starts that led here were no failures: forget them (before login() gives the session a new key).
    throttling.record_success(limit=throttling.BANKID_LOGIN_SESSION, key=request.session.session_key)
    throttling.forgive_one(limit=throttling.BANKID_LOGIN_ADDRESS, key=_client_ip(request))
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    translation.activate(user.language)
    response = redirect(settings.LOGIN_REDIRECT_URL)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        user.language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@never_cache
@require_GET
def session_alive(request: HttpRequest) -> JsonResponse:
    """The idle-timeout warning's "stay logged in": records the activity now, and answers with the seconds
    of idle time the session has from here."""
    if request.user.is_authenticated:
        record_activity(request)
    return JsonResponse({"authenticated": request.user.is_authenticated, "idleTimeout": settings.SESSION_IDLE_TIMEOUT})
