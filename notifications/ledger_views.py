"""Utskick per användare: the delivery ledger of *Administrera behörigheter*, for the company's permission
administrators only (anyone else: 404), as a page and as a CSV file (issue 23, part 4)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agreements.access import access_permission_admin
from companies.views import company_context

from .ledger import COLUMNS, LEDGER_DAYS, ledger_csv_lines, ledger_filename, ledger_page


@login_required
@require_GET
def delivery_ledger(request: HttpRequest, company_id: int) -> HttpResponse:
    membership = access_permission_admin(user=request.user, company_id=company_id)
    page, rows = ledger_page(company=membership.company, page=request.GET.get("sida"))
    context = company_context(
        request, membership, nav="ledger", page=page, rows=rows, days=LEDGER_DAYS, columns=COLUMNS
    )
    return render(request, "notifications/ledger.html", context)


@login_required
@require_GET
def delivery_ledger_csv(request: HttpRequest, company_id: int) -> StreamingHttpResponse:
    membership = access_permission_admin(user=request.user, company_id=company_id)
    company = membership.company
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in ledger_csv_lines(company=company)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{ledger_filename(company)}"'
    response["Cache-Control"] = "no-store"
    return response
