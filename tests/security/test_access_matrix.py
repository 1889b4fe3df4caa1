"""Every URL of the project, GET and POST, as everyone who must not get through.

The routes come from the URLconf itself (tests/security/conftest.py walks it, includes and the admin too),
so a new view is attacked the day it is added: a route with no rule below fails
``test_every_route_has_an_access_rule``, and a path value nobody knows how to fill fails the matrix. Path
values are real ids of objects that are foreign to the persona — another company's pending change,
another user's signature order — so an object lookup that forgets its owner shows as a leak, not a 404
on a made-up id. After every request the app's tables must be exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.test import Client

from .conftest import Persona, Route, all_routes, changed_tables, fill_values, fingerprint

pytestmark = pytest.mark.django_db

# What a route requires. "public": anyone (the reason says why that is safe); "logged_in": any logged-in
# user, who sees only their own things; "member"/"access"/"signatory"/"permission_admin": a membership of
# the company in the URL, and more; "own_order": the signature order is the user's; "session_order": the
# BankID login was started in this browser session; "signed": authenticated by a signature, not a
# session; "staff": bank staff (the admin); "never": only exists in development (DEBUG).
NOT_TAKEN = None


@dataclass(frozen=True)
class Rule:
    get: str | None
    post: str | None
    reason: str = ""  # why a public route is safe


def public(reason: str, *, get: bool = True, post: bool = True) -> Rule:
    return Rule("public" if get else NOT_TAKEN, "public" if post else NOT_TAKEN, reason)


RULES: dict[str, Rule] = {
    "home": public("redirects to the login page or the company picker", post=False),
    "login": public("the login page; its POST is the DEBUG-only personnummer login (404 in production)"),
    "logout": public("ends the visitor's own session and nothing else", get=False),
    "switch-language": public("sets the visitor's language cookie and the user's own preference", get=False),
    "help": public("the bank's public help text", post=False),
    "livez": public("the orchestrator's probe: answers that the process answers, nothing more", post=False),
    "readyz": public("the load balancer's probe: database and broker up or down; no customer data", post=False),
    "healthz": public("the old name of readyz", post=False),
    "signing:login-start": public("starts a BankID identification (throttled per address)", get=False),
    "signing:session-alive": public("answers only whether this very request is logged in", post=False),
    "api-openapi": public("the API's published description", post=False),
    "<unnamed ^api/v1/(?P<path>.*)$>": public("answers 404 problem+json for any other API path"),
    "admin:login": public("the admin's login form; customers without is_staff cannot pass it"),
    "admin:logout": public("ends the visitor's own session"),
    "company-picker": Rule("logged_in", NOT_TAKEN),
    "company-home": Rule("member", NOT_TAKEN),
    "service": Rule("member", NOT_TAKEN),
    "my-watches": Rule("member", NOT_TAKEN),
    "edit-watches": Rule("access", "access"),
    "change-contact": Rule(NOT_TAKEN, "access"),
    "confirm-contact": Rule(NOT_TAKEN, "access"),
    "alert-language": Rule(NOT_TAKEN, "access"),
    "remove-contact": Rule(NOT_TAKEN, "access"),  # issue 23
    "permissions": Rule("permission_admin", "permission_admin"),
    "delivery-ledger": Rule("permission_admin", NOT_TAKEN),  # issue 23: counts per user, administrators only
    "delivery-ledger-csv": Rule("permission_admin", NOT_TAKEN),
    "agreements:connect": Rule(NOT_TAKEN, "signatory"),
    "agreements:change": Rule("member", "signatory"),  # the page says who may change it
    "agreements:sign": Rule("signatory", "signatory"),
    "agreements:signed": Rule("signatory", NOT_TAKEN),
    "agreements:cosign": Rule(NOT_TAKEN, "signatory"),
    "agreements:withdraw": Rule("signatory", "signatory"),  # GET: the page that asks first
    "agreements:pending-receipt": Rule("member", NOT_TAKEN),
    "agreements:receipt": Rule("member", NOT_TAKEN),
    "agreements:evidence-bundle": Rule("signatory", NOT_TAKEN),  # the signed evidence: signatories only
    "agreements:end": Rule("signatory", "signatory"),
    "agreements:end-receipt": Rule("member", NOT_TAKEN),
    "signing:sign": Rule("own_order", NOT_TAKEN),
    "signing:status": Rule("own_order", NOT_TAKEN),
    "signing:answer": Rule(NOT_TAKEN, "own_order"),
    "signing:cancel": Rule(NOT_TAKEN, "own_order"),
    "signing:login-wait": Rule("session_order", NOT_TAKEN),
    "signing:login-status": Rule("session_order", NOT_TAKEN),
    "signing:login-finish": Rule("session_order", NOT_TAKEN),
    "twilio-status-callback": Rule(NOT_TAKEN, "signed"),
    "api-events": Rule(NOT_TAKEN, "signed"),
    "api-events-batch": Rule(NOT_TAKEN, "signed"),
    "dev-outbox": Rule("never", NOT_TAKEN),
    "admin-dashboard": Rule("staff", "staff"),  # the operations overview, inside the admin
    "metrics": public(
        "Prometheus' scrape: aggregate counts only; METRICS_TOKEN or METRICS_ALLOWED, else 403 in production",
        post=False,
    ),
    "statusz": public("monitoring's probe: counts and up/down only; guarded as metrics is", post=False),
}
STAFF = Rule("staff", "staff")
# Company routes whose other path values name an object inside the company (a pending change, a version).
COMPANY_REQUIREMENTS = {"member", "access", "signatory", "permission_admin"}


def rule_for(route: Route) -> Rule | None:
    if route.name in RULES:
        return RULES[route.name]
    if route.is_admin:
        return STAFF
    return None


def test_every_route_has_an_access_rule():
    """A new view must be given a rule here, or this fails; the matrix then attacks it."""
    missing = [f"{r.name} ({r.pattern})" for r in all_routes() if rule_for(r) is None]
    assert not missing, "routes without an access rule in tests/security/test_access_matrix.py: " + ", ".join(missing)
    stale = set(RULES) - {r.name for r in all_routes()}
    assert not stale, f"rules for routes that no longer exist: {sorted(stale)}"


def test_every_public_route_says_why_it_is_public():
    for name, rule in RULES.items():
        if "public" in (rule.get, rule.post):
            assert len(rule.reason) > 20, name


def _admin_object_ids() -> dict[str, object]:
    """For each registered admin model, the route prefix and the pk of a real object (or 1)."""
    ids = {}
    for model in admin.site._registry:
        first = model._default_manager.order_by("pk").first()
        ids[f"admin:{model._meta.app_label}_{model._meta.model_name}_"] = first.pk if first else 1
    return ids


def _url(route: Route, persona: Persona, world, admin_ids) -> str:
    values = fill_values(persona, world)
    if route.name.startswith("signing:login-"):
        values["order_id"] = world.login_order_id  # another browser's BankID login
    if route.is_admin and {"object_id", "id"} & set(route.kwargs):
        prefix = next((p for p in admin_ids if route.name.startswith(p)), None)
        values["object_id"] = values["id"] = admin_ids[prefix] if prefix else 1
    unknown = [k for k in route.kwargs if values.get(k) is None]
    assert not unknown, f"{route.name}: no foreign object to fill {unknown} with; add it to fill_values()"
    return route.url(values)


def _meets(persona: Persona, requirement: str) -> bool:
    return {
        "member": persona.has_membership,
        "access": persona.has_access,
        "signatory": persona.is_signatory,
        "permission_admin": persona.is_permission_admin,
    }[requirement]


def expectation(route: Route, persona: Persona, method: str) -> str:
    """ "allowed", or the kind of refusal due: "login" (redirect), "404", "refused" (403/404), "401"…"""
    rule = rule_for(route)
    requirement = rule.get if method == "GET" else rule.post
    if requirement is NOT_TAKEN:
        # login_required comes first: a visitor who is not logged in is sent to log in, whatever the method.
        return "login-or-405" if persona.logged_out and "public" not in (rule.get, rule.post) else "405"
    if requirement == "public":
        return "allowed"
    if requirement == "staff":
        return "admin-login"
    if requirement == "signed":
        return "401" if route.name.startswith("api-") else "403"
    if requirement == "never":
        return "404"
    if persona.logged_out:
        return "login" if requirement != "session_order" else "404"
    if requirement == "logged_in":
        return "allowed"
    if requirement in {"own_order", "session_order"}:
        return "404"
    # A company route: the company in the URL, then the objects inside it.
    if not persona.has_membership:
        return "404"
    if set(route.kwargs) - {"company_id"}:
        return "404"  # an object of another company, under the persona's own company
    return "allowed" if _meets(persona, requirement) else "refused"


def verdict(expected: str, response) -> str | None:
    """None if the response is what ``expected`` demands, else what is wrong."""
    status = response.status_code
    location = response.get("Location", "")
    if expected == "allowed":
        # 503 is /statusz saying "no worker"; an unexpected error is a 500.
        return None if status != 500 else f"answered {status}"
    ok = {
        "405": status == 405,
        "404": status == 404,
        "401": status == 401,
        "403": status == 403,
        "refused": status in (403, 404),
        "login": status == 302 and location.startswith("/logga-in/"),
        "login-or-405": status == 405 or (status == 302 and location.startswith("/logga-in/")),
        "admin-login": status == 302 and location.startswith("/admin/login/"),
    }[expected]
    return None if ok else f"expected {expected}, answered {status} {location}".strip()


@pytest.mark.parametrize(
    "persona_name",
    [
        "anonymous",
        "a user of another company",
        "a member without access",
        "a restricted user without the permission",
        "a non-signatory with access",
        "a user whose permission was revoked",
        "a user the bank deactivated",
    ],
)
def test_no_route_lets_a_persona_through_or_changes_anything(world, persona_name):
    persona = world.personas[persona_name]
    client = Client()
    if persona.user is not None:
        client.force_login(persona.user)
    admin_ids = _admin_object_ids()
    problems, refused = [], 0
    after = fingerprint()
    for route in all_routes():
        url = _url(route, persona, world, admin_ids)
        for method in ("GET", "POST"):
            expected = expectation(route, persona, method)
            before = after
            response = client.get(url) if method == "GET" else client.post(url, {})
            after = fingerprint()
            changed = changed_tables(before, after)
            wrong = verdict(expected, response)
            if wrong:
                problems.append(f"{method} {url} [{route.name}]: {wrong}")
            if changed:
                problems.append(f"{method} {url} [{route.name}]: changed {changed}")
            refused += expected != "allowed"
        if persona.user is not None and not persona.logged_out and "_auth_user_id" not in client.session:
            client.force_login(persona.user)  # logout and admin:logout end the session: start a new one
            after = fingerprint()  # (logging in writes last_login)
    assert not problems, f"{persona_name}:\n" + "\n".join(problems)
    assert refused > 100  # the matrix really attacked something


def test_the_matrix_can_tell_a_leak_from_a_refusal(world):
    """The owner gets through where the others are refused: the refusals above are about who asks."""
    owner = world.target.alone
    client = Client()
    client.force_login(owner)
    company = world.target.company.pk
    assert client.get(f"/foretag/{company}/bevaka-arenden/kvittens/{world.target.version_id}/").status_code == 200
    assert client.get(f"/signera/{world.target.order_id}/").status_code == 200
    assert client.get(f"/foretag/{company}/administrera-behorigheter/").status_code == 200


def test_bank_staff_enter_the_admin_and_customers_do_not(world):
    from tests.factories import UserFactory

    # A staff member in no group (not the demo's Sara, whom the test database holds already).
    staff = UserFactory(first_name="Sara", last_name="Stöd", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    client.force_login(world.target.alone)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
