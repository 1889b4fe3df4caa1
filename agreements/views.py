"""The service page Bevaka ärenden and the agreement lifecycle, step by step as the bank's help page says:
Anslut → signera → bekräftelse; Ändra avtal → Ändra → signera → bekräftelse;
Avsluta → Avsluta → bekräftelse."""

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bevaka.http import client_ip
from companies.models import Membership
from companies.selectors import access_membership, signatories_of
from companies.views import company_context
from signing.services import SigningError, start_signature

from . import services
from .access import access_permission_admin, has_service_access
from .coverage import coverage
from .evidence import version_bundle
from .forms import AgreementForm, SigningMethodForm
from .models import Agreement, AgreementSignature, AgreementVersion, CaseType, PendingAgreementChange
from .pending import last_superseded
from .proposals import Proposal
from .selectors import active_agreement, bank_ended_agreement, permission_rows, stale_proposal_reason

# A user's proposals for a company, each under its own id (issue 18, defect 4: one slot per company let a
# second tab replace what the first tab was about to sign). An entry keeps its signing order and, once
# acted on, where its result is shown. Only the newest few are kept.
PROPOSALS_KEY = "agreement-proposals:{company_id}"
KEPT_PROPOSALS = 5


@login_required
@require_GET
def service_page(request: HttpRequest, company_id: int) -> HttpResponse:
    """Bevaka ärenden: connect (signatory, no agreement), the agreement in force, or a pending change."""
    membership = access_membership(user=request.user, company_id=company_id)
    company = membership.company
    agreement = active_agreement(company=company)
    # The signatures with their signers in one query (a plain prefetch of signatures__signer takes two).
    signatures = Prefetch("signatures", queryset=AgreementSignature.objects.select_related("signer"))
    version = agreement.versions.order_by("-number").prefetch_related(signatures).first() if agreement else None
    context = company_context(
        request,
        membership,
        nav="service",
        agreement=agreement,
        version=version,
        pending=services.open_pending_change(company=company),
        superseded=last_superseded(company=company) if membership.is_signatory else None,
        has_access=has_service_access(user=request.user, company=company),
        signatories=signatories_of(company_id=company_id),
        bank_ended=bank_ended_agreement(company=company) if agreement is None else None,
    )
    if agreement is None and membership.is_signatory:
        context["form"] = AgreementForm(sole_proprietorship=company.is_sole_proprietorship)
    if context["pending"] is not None:
        # The pending change's cases by name, in the reader's language (its codes are what is stored).
        context["pending_case_types"] = CaseType.objects.filter(code__in=context["pending"].case_type_codes)
    if version is not None:
        context["case_types"] = agreement.case_types.all()
        if membership.is_signatory:
            context["coverage"] = coverage(agreement=agreement, case_types=list(context["case_types"]))
    return render(request, "agreements/service.html", context)


def _signatory_membership_or_refusal(request: HttpRequest, company_id: int) -> Membership | HttpResponse:
    """The user's membership if they may sign agreements for the company; otherwise the 403 page.

    A company the user is not a member of is a 404 (access_membership), as everywhere.
    """
    membership = access_membership(user=request.user, company_id=company_id)
    if membership.is_signatory:
        return membership
    context = company_context(request, membership, nav="service")
    return render(request, "agreements/not_signatory.html", context, status=403)


def _proposals(request: HttpRequest, company_id: int) -> dict[str, dict]:
    return request.session.get(PROPOSALS_KEY.format(company_id=company_id), {})


def _save_entry(request: HttpRequest, company_id: int, proposal_id: str, entry: dict) -> None:
    # Insertion order is age: the entry saved last is the newest; the oldest beyond the few kept go.
    proposals = {key: value for key, value in _proposals(request, company_id).items() if key != proposal_id}
    proposals[proposal_id] = entry
    request.session[PROPOSALS_KEY.format(company_id=company_id)] = dict(list(proposals.items())[-KEPT_PROPOSALS:])


def _store_proposal(request: HttpRequest, proposal: Proposal) -> HttpResponse:
    proposal_id = secrets.token_urlsafe(12)
    _save_entry(request, proposal.company_id, proposal_id, {"proposal": proposal.as_session()})
    return redirect("agreements:sign", company_id=proposal.company_id, proposal_id=proposal_id)


def _stored_proposal(request: HttpRequest, company_id: int, proposal_id: str) -> tuple[dict, Proposal | None]:
    """The session entry of this proposal and the proposal, unless already acted on (then None).

    An id this session did not make (another user's, or one long since dropped) is a 404."""
    entry = _proposals(request, company_id).get(proposal_id)
    if entry is None:
        raise Http404("no such proposal")
    return entry, Proposal.from_session(entry["proposal"]) if "proposal" in entry else None


@login_required
@require_POST
def connect(request: HttpRequest, company_id: int) -> HttpResponse:
    """Anslut: check the choice, then go to the signing step."""
    membership = _signatory_membership_or_refusal(request, company_id)
    if isinstance(membership, HttpResponse):
        return membership
    company = membership.company
    form = AgreementForm(request.POST, sole_proprietorship=company.is_sole_proprietorship)
    if form.is_valid():
        try:
            proposal = services.propose_connect(
                company=company,
                signer=request.user,
                case_type_codes=form.codes(),
                internet_bank=form.cleaned_data.get("internet_bank", ""),
            )
        except services.AgreementError as error:
            form.add_error(None, str(error))
        else:
            return _store_proposal(request, proposal)
    context = company_context(
        request, membership, nav="service", agreement=None, form=form, signatories=signatories_of(company_id=company_id)
    )
    return render(request, "agreements/service.html", context, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def change(request: HttpRequest, company_id: int) -> HttpResponse:
    """Ändra avtal: choose the case types and click Ändra, then sign."""
    membership = access_membership(user=request.user, company_id=company_id)
    if request.method == "POST" and not membership.is_signatory:
        return _signatory_membership_or_refusal(request, company_id)
    company = membership.company
    agreement = active_agreement(company=company)
    if agreement is None:
        return redirect("service", company_id=company_id)
    initial = {"case_types": list(agreement.case_types.all())}
    form = AgreementForm(request.POST or None, initial=initial, with_internet_bank=False)
    status = 200
    if not membership.is_signatory:
        form = None
        status = 403 if request.method == "POST" else 200
    elif request.method == "POST" and form.is_valid():
        try:
            proposal = services.propose_change(company=company, signer=request.user, case_type_codes=form.codes())
        except services.AgreementError as error:
            form.add_error(None, str(error))
            status = 400
        else:
            return _store_proposal(request, proposal)
    elif request.method == "POST":
        status = 400
    # A change already waiting for a second signature: said here, before anyone signs (issue 19).
    pending = services.open_pending_change(company=company) if membership.is_signatory else None
    context = company_context(request, membership, nav="service", agreement=agreement, form=form, pending=pending)
    return render(request, "agreements/change.html", context, status=status)


@login_required
@require_POST
def cosign(request: HttpRequest, company_id: int, pending_id: int) -> HttpResponse:
    """A second signatory chooses to sign the pending change: the same content goes to the signing step."""
    membership = access_membership(user=request.user, company_id=company_id)
    pending = services.open_pending_change(company=membership.company)
    if pending is None or pending.pk != pending_id:
        raise Http404("no such pending change")
    membership = _signatory_membership_or_refusal(request, company_id)
    if isinstance(membership, HttpResponse):
        return membership
    if pending.initiated_by_id == request.user.pk:
        messages.error(request, _("Ändringen måste signeras av en annan person med fullmakt att teckna avtal."))
        return redirect("service", company_id=company_id)
    return _store_proposal(request, services.proposal_for_pending(pending))


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, company_id: int, pending_id: int) -> HttpResponse:
    """Återkalla a pending change. A colleague's signed change is withdrawn only once confirmed (a page that
    asks; issue 18); one's own at once."""
    membership = access_membership(user=request.user, company_id=company_id)
    pending = (
        PendingAgreementChange.objects.filter(pk=pending_id, company=membership.company)
        .select_related("initiated_by")
        .first()
    )
    if pending is None:
        raise Http404("no such pending change")
    refusal = _signatory_membership_or_refusal(request, company_id)
    if isinstance(refusal, HttpResponse):
        return refusal
    confirmed = request.POST.get("bekraftat") == "ja" or pending.initiated_by_id == request.user.pk
    if request.method == "GET" or not confirmed:
        context = company_context(request, membership, nav="service", pending=pending)
        context["pending_case_types"] = CaseType.objects.filter(code__in=pending.case_type_codes)
        return render(request, "agreements/withdraw.html", context)
    try:
        services.withdraw_pending(pending_id=pending_id, user=request.user, ip_address=client_ip(request))
    except services.AgreementError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Ändringen är återkallad."))
    return redirect("service", company_id=company_id)


@login_required
@require_http_methods(["GET", "POST"])
def sign(request: HttpRequest, company_id: int, proposal_id: str) -> HttpResponse:
    """The signing step: exactly what is being agreed, and the choice of säkerhetsdosa or BankID."""
    entry, proposal = _stored_proposal(request, company_id, proposal_id)
    membership = _signatory_membership_or_refusal(request, company_id)
    if isinstance(membership, HttpResponse):
        return membership
    if proposal is None:
        return redirect(entry["done"])
    if stale := stale_proposal_reason(proposal):
        messages.error(request, stale)
        return redirect("service", company_id=company_id)
    form = SigningMethodForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            order = start_signature(
                user=request.user,
                method=form.cleaned_data["method"],
                purpose=services.SIGNING_PURPOSE,
                visible_text=proposal.visible_text(),
                canonical_content=proposal.content,
                object_ref=f"company:{company_id}",
                return_url=reverse("agreements:signed", args=[company_id, proposal_id]),
                end_user_ip=client_ip(request) or "127.0.0.1",
            )
        except SigningError as error:
            form.add_error(None, str(error))
        else:
            _save_entry(request, company_id, proposal_id, {**entry, "order": str(order.pk)})
            return redirect("signing:sign", order_id=order.pk)
    context = company_context(request, membership, nav="service", proposal=proposal, form=form)
    return render(request, "agreements/sign.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def signed(request: HttpRequest, company_id: int, proposal_id: str) -> HttpResponse:
    """Where the signing page returns: take the signature and act on it, or say why not."""
    entry, proposal = _stored_proposal(request, company_id, proposal_id)
    refusal = _signatory_membership_or_refusal(request, company_id)
    if isinstance(refusal, HttpResponse):
        return refusal
    if proposal is None:
        # A second visit (a reload, or the signing page and the app both coming back) shows the result again.
        return redirect(entry["done"])
    if "order" not in entry:
        return redirect("agreements:sign", company_id=company_id, proposal_id=proposal_id)
    try:
        result = services.complete_signed_proposal(
            proposal=proposal, order_id=entry["order"], signer=request.user, ip_address=client_ip(request)
        )
    except SigningError as error:
        # Cancelled, timed out or failed: back to the same proposal, so the choice of cases is kept. Avbryt is
        # the user's choice: information, not an error (issue 18).
        cancelled = getattr(error, "code", "") == "cancelled"
        (messages.info if cancelled else messages.error)(request, str(error))
        return redirect("agreements:sign", company_id=company_id, proposal_id=proposal_id)
    except services.AgreementError as error:
        messages.error(request, str(error))
        return redirect("service", company_id=company_id)
    if result.version is not None:
        done = reverse("agreements:receipt", args=[company_id, result.version.pk])
    else:
        done = reverse("agreements:pending-receipt", args=[company_id, result.pending.pk])
    _save_entry(request, company_id, proposal_id, {"done": done})
    return redirect(done)


@login_required
@require_GET
def receipt(request: HttpRequest, company_id: int, version_id: int) -> HttpResponse:
    """Kvittens: the company is connected, or the agreement changed. Printable."""
    membership = access_membership(user=request.user, company_id=company_id)
    try:
        version = (
            AgreementVersion.objects.select_related("agreement")
            .prefetch_related("signatures__signer")
            .get(pk=version_id, agreement__company_id=company_id)
        )
    except AgreementVersion.DoesNotExist:
        raise Http404("no such version") from None
    proposal = Proposal.from_content(
        version.content,
        company_id=company_id,
        is_sole_proprietorship=version.agreement.company.is_sole_proprietorship,
    )
    context = company_context(request, membership, nav="service", version=version, proposal=proposal)
    return render(request, "agreements/receipt.html", context)


@login_required
@require_GET
def pending_receipt(request: HttpRequest, company_id: int, pending_id: int) -> HttpResponse:
    membership = access_membership(user=request.user, company_id=company_id)
    pending = PendingAgreementChange.objects.filter(pk=pending_id, company_id=company_id).first()
    if pending is None:
        raise Http404("no such pending change")
    proposal = services.proposal_for_pending(pending)
    context = company_context(request, membership, nav="service", pending=pending, proposal=proposal)
    return render(request, "agreements/pending_receipt.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def end(request: HttpRequest, company_id: int) -> HttpResponse:
    """Avsluta: a page that asks, and a second Avsluta that ends the service (no signature)."""
    membership = _signatory_membership_or_refusal(request, company_id)
    if isinstance(membership, HttpResponse):
        return membership
    company = membership.company
    agreement = active_agreement(company=company)
    if request.method == "POST":
        try:
            ended = services.end_agreement(company=company, user=request.user, ip_address=client_ip(request))
        except services.AgreementError as error:
            context = company_context(request, membership, nav="service", agreement=agreement, error=str(error))
            return render(request, "agreements/end.html", context, status=403 if not membership.is_signatory else 400)
        return redirect("agreements:end-receipt", company_id=company_id, agreement_id=ended.pk)
    if agreement is None:
        return redirect("service", company_id=company_id)
    context = company_context(request, membership, nav="service", agreement=agreement)
    return render(request, "agreements/end.html", context)


@login_required
@require_GET
def end_receipt(request: HttpRequest, company_id: int, agreement_id: int) -> HttpResponse:
    membership = access_membership(user=request.user, company_id=company_id)
    agreement = (
        Agreement.objects.filter(pk=agreement_id, company_id=company_id, status=Agreement.Status.ENDED)
        .select_related("ended_by")
        .first()
    )
    if agreement is None:
        raise Http404("no such ended agreement")
    return render(request, "agreements/end_receipt.html", company_context(request, membership, agreement=agreement))


@login_required
@require_http_methods(["GET", "POST"])
def permissions_page(request: HttpRequest, company_id: int) -> HttpResponse:
    """Administrera behörigheter: permission administrators grant and revoke Hantera Bevaka ärenden."""
    membership = access_permission_admin(user=request.user, company_id=company_id)
    company = membership.company
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            user_id = int(request.POST.get("user", ""))
        except ValueError:
            raise Http404("no such user") from None
        operation = {
            "grant": services.grant_case_watch_permission,
            "revoke": services.revoke_case_watch_permission,
        }
        if action not in operation:
            raise Http404("no such action")
        try:
            operation[action](company=company, admin=request.user, user_id=user_id, ip_address=client_ip(request))
        except services.AgreementError as error:
            messages.error(request, str(error))
        else:
            member = Membership.objects.select_related("user").get(company=company, user_id=user_id)
            done = (
                _("%(name)s har fått behörigheten Hantera Bevaka ärenden.")
                if action == "grant"
                else _("%(name)s har inte längre behörigheten Hantera Bevaka ärenden.")
            )
            messages.success(request, done % {"name": member.user.get_full_name()})
        return redirect(f"{reverse('permissions', args=[company_id])}?{request.GET.urlencode()}")

    query = request.GET.get("q", "").strip()
    page = permission_rows(company=company, query=query, page=request.GET.get("sida"))
    agreement = active_agreement(company=company)
    context = company_context(
        request,
        membership,
        nav="permissions",
        rows=page.object_list,
        page=page,
        query=query,
        agreement=agreement,
        coverage=coverage(agreement=agreement),
    )
    return render(request, "agreements/permissions.html", context)


@login_required
@require_GET
def evidence_bundle(request: HttpRequest, company_id: int, version_id: int) -> HttpResponse:
    """The version's evidence bundle (zip), for the company's signatories; anyone else gets a 404."""
    membership = access_membership(user=request.user, company_id=company_id)
    version = (
        AgreementVersion.objects.select_related("agreement__company")
        .filter(pk=version_id, agreement__company_id=company_id)
        .first()
    )
    if version is None or not membership.is_signatory:
        raise Http404("no such version")
    filename, data = version_bundle(version)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
