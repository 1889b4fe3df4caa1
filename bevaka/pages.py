"""Two rules for every page a browser shows, kept in one place rather than in each view.

- A form's action is often a POST-only URL that renders its page again with the errors (Anslut with
  nothing ticked, a wrong svarskod). Anything that later GETs that URL — *Byt språk* returning to "this
  page", Back, a reload of the address bar — would get a bare 405. Instead the browser is sent to the
  page above it in the URL (``/…/anslut/`` → ``/…/bevaka-arenden/``), the page that holds the form.
- A signed-in user's pages are not stored by the browser (``Cache-Control: no-store``): after *Avsluta*
  or *Logga ut*, Back must fetch the page again rather than show a stale "anslutet" page with live buttons.
"""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve
from django.utils.cache import add_never_cache_headers


def page_above(path: str) -> str:
    """The nearest URL above ``path`` (its last segments dropped) that the site answers; "/" at the top."""
    parts = path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts) + "/"
        try:
            resolve(candidate)
        except Resolver404:
            continue
        return candidate
    return "/"


def _is_browser_page_request(request: HttpRequest) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


class PostOnlyPageMiddleware:
    """A browser's GET of a POST-only URL goes to the page above it instead of a bare 405.

    Only a plain Django 405 (HTML, from ``require_POST``) to a request that accepts HTML: the API's
    problem+json answers stay as they are. If the page above is POST-only too, the same rule moves on.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and _is_browser_page_request(request)
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return HttpResponseRedirect(page_above(request.path))
        return response


class NoStoreForSignedInMiddleware:
    """Every answer to a signed-in user is marked not to be stored, unless the view chose its own caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            add_never_cache_headers(response)
        return response
