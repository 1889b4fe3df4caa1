"""Mina bevakningar, as the bank's help page says: the page shows the settings; Ändra → change → Spara."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements.access import access_service, has_service_access
from agreements.selectors import active_agreement, bank_ended_agreement
from bevaka.http import client_ip
from companies.models import Membership
from companies.selectors import access_membership, permission_admins_of, signatories_of
from companies.views import company_context
from notifications.models import Channel

from . import selectors, services
from .forms import AlertLanguageForm, CodeForm, ContactForm, RemoveContactForm, WatchForm


def _page_context(request: HttpRequest, membership: Membership, **extra) -> dict:
    company = membership.company
    agreement = active_agreement(company=company)
    context = company_context(
        request,
        membership,
        nav="my-watches",
        agreement=agreement,
        has_access=has_service_access(user=request.user, company=company),
        notices=selectors.take_notices(user=request.user, company=company, agreement=agreement),
        bank_ended=bank_ended_agreement(company=company) if agreement is None else None,
        **extra,
    )
    if not context["has_access"]:
        context["signatories"] = signatories_of(company_id=company.pk)
        context["permission_admins"] = permission_admins_of(company_id=company.pk)
    return context


@login_required
@require_GET
def my_watches(request: HttpRequest, company_id: int) -> HttpResponse:
    """The read view: which case types the user watches and how, the contact details, sent alerts."""
    return _render_my_watches(request, access_membership(user=request.user, company_id=company_id))


def _render_my_watches(request: HttpRequest, membership: Membership, *, refused: dict | None = None) -> HttpResponse:
    """The page; ``refused`` is a refused contact detail ({"channel", "typed", "error"}): the field shows
    what was typed, with the error beside it (status 400)."""
    context = _page_context(request, membership, refused=refused or {})
    if context["has_access"]:
        context.update(
            rows=selectors.watch_rows(user=request.user, company=membership.company, agreement=context["agreement"]),
            contacts=selectors.contact_states(user=request.user),
            history=selectors.alert_history(
                user=request.user, company=membership.company, page=request.GET.get("sida")
            ),
        )
    return render(request, "subscriptions/my_watches.html", context, status=400 if refused else 200)


@login_required
@require_http_methods(["GET", "POST"])
def edit_watches(request: HttpRequest, company_id: int) -> HttpResponse:
    """Ändra: the agreement's case types, each with Sms / E-post; Spara stores and returns."""
    membership = access_service(user=request.user, company_id=company_id)
    company = membership.company
    contacts = selectors.contact_states(user=request.user)
    verified = {channel for channel, state in contacts.items() if state.verified}
    rows = selectors.watch_rows(user=request.user, company=company)
    form = WatchForm(request.POST or None, rows=rows, verified_channels=verified)
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.save_watches(
                user=request.user,
                company=company,
                selections=form.selections(),
                ip_address=client_ip(request),
            )
        except services.WatchError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Dina bevakningar är sparade.") if changed else _("Inga ändringar att spara."))
            return redirect("my-watches", company_id=company_id)
    context = company_context(request, membership, nav="my-watches", form=form, contacts=contacts)
    return render(request, "subscriptions/edit.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def change_contact(request: HttpRequest, company_id: int) -> HttpResponse:
    """A new (or the same, unverified) mobile number or e-mail address: send a code to it."""
    membership = access_service(user=request.user, company_id=company_id)
    form = ContactForm(request.POST)
    if form.is_valid():
        channel = form.cleaned_data["channel"]
        try:
            services.start_verification(
                user=request.user, channel=channel, destination=form.cleaned_data["destination"]
            )
        except ValidationError as error:
            message = " ".join(error.messages)
        except services.WatchError as error:
            message = str(error)
        else:
            messages.success(
                request,
                _("Vi har skickat en kod i ett sms. Skriv in den nedan.")
                if channel == Channel.SMS
                else _("Vi har skickat en kod med e-post. Skriv in den nedan."),
            )
            return redirect("my-watches", company_id=company_id)
    else:
        # What is wrong with what was typed (too long, …), not only what was expected.
        problems = form.errors.get("destination") or [_("Ange ett mobilnummer eller en e-postadress.")]
        message = " ".join(problems)
    # Refused: the page again, the field keeping what was typed, the error beside it (issue 18).
    typed = request.POST.get("destination", "")
    refused = {"channel": request.POST.get("channel", ""), "typed": typed, "error": message}
    return _render_my_watches(request, membership, refused=refused)


@login_required
@require_POST
def confirm_contact(request: HttpRequest, company_id: int) -> HttpResponse:
    access_service(user=request.user, company_id=company_id)
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            services.confirm_verification(
                user=request.user,
                channel=form.cleaned_data["channel"],
                code=form.cleaned_data["code"],
                ip_address=client_ip(request),
            )
        except services.WatchError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Uppgiften är verifierad. Nu kan du välja att få aviseringar dit."))
    else:
        messages.error(request, _("Skriv in koden du fick."))
    return redirect("my-watches", company_id=company_id)


@login_required
@require_POST
def remove_contact(request: HttpRequest, company_id: int) -> HttpResponse:
    """Ta bort: the verified mobile number or e-mail address goes; the previous destination is told."""
    access_service(user=request.user, company_id=company_id)
    form = RemoveContactForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Välj vilken uppgift som ska tas bort."))
        return redirect("my-watches", company_id=company_id)
    channel = form.cleaned_data["channel"]
    try:
        services.remove_contact(user=request.user, channel=channel, ip_address=client_ip(request))
    except services.WatchError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Mobilnumret är borttaget. Du får inga aviseringar med sms.")
            if channel == Channel.SMS
            else _("E-postadressen är borttagen. Du får inga aviseringar med e-post."),
        )
    return redirect("my-watches", company_id=company_id)


@login_required
@require_POST
def alert_language(request: HttpRequest, company_id: int) -> HttpResponse:
    """Spara språk under Språk för aviseringar: the alerts' language only; the page stays in its language."""
    access_service(user=request.user, company_id=company_id)
    form = AlertLanguageForm(request.POST)
    if form.is_valid():
        services.set_alert_language(user=request.user, language=form.cleaned_data["language"])
        messages.success(request, _("Språket för aviseringar är sparat."))
    else:
        messages.error(request, _("Välj ett språk."))
    return redirect("my-watches", company_id=company_id)
