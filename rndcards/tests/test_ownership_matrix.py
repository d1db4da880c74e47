"""Ownership matrix: every named URL of the site, and who may use it.

Every named URL pattern the resolver knows (walked recursively, see EXCLUDED for what is left
out and why) must have a line in MATRIX, else `test_every_url_pattern_has_a_matrix_entry`
fails naming it. Each line says:

    "url_name": Entry(kwargs, methods, who, anonymous="login"),

- `kwargs`: how to build the URL's kwargs from the fixture world `w` (w.batch, w.project,
  w.key — a section key, w.version — a SectionVersion of that section), e.g.
  `lambda w: {"pk": w.project.pk, "key": w.key}`; `None` for URLs without an object;
- `methods`: the HTTP methods the view accepts (HEAD goes with GET); the owner gets 405 for
  the others from this list: GET, POST, PUT, PATCH, DELETE;
- `who`: the roles allowed (`COLLABORATORS`: owner and a colleague the batch is shared with;
  `OWNER`: the owner alone; `EVERYONE`: any logged-in user, for URLs without an object);
- `anonymous`: "login" (redirect to the login page, 401 for htmx), or "open" (public pages);
- `destructive=True`: the request removes its object, so each request gets a fresh batch;
- `auth="jwt"`: the roles send `Authorization: Bearer <access token>` (simplejwt) instead of
  a session cookie (API URLs that accept only tokens).

What is checked, for every line, with and without `HX-Request`:
- a role not in `who` (for URLs with an object): every method → 404, never 403 — the
  roles are the batch's owner, a colleague of the same firm it is shared with ("shared"),
  a colleague of the same firm it is NOT shared with ("colleague") and a consultant of
  another firm ("outsider");
- a role in `who`: every method → not 404, not 403, no server error;
- anonymous: every method → the login redirect (302 to LOGIN_URL?next=…), 401 for htmx;
  "open" → no login redirect and no server error.

For JSON API URLs (token auth) add `anonymous="401"` and the test expects 401 without a
session; the other checks are the same (a JSON 404 for others' objects).
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from cards.models import SectionVersion
from cards.tests.factories import HX, generate_now

ROLES = ("owner", "shared", "colleague", "outsider")
OWNER = frozenset({"owner"})
COLLABORATORS = frozenset({"owner", "shared"})
EVERYONE = frozenset(ROLES)
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Entry:
    kwargs: Callable | None
    methods: tuple[str, ...]
    who: frozenset
    anonymous: str = "login"  # "login" | "open" | "401"
    # The request removes its object (delete): every request gets a batch of its own.
    destructive: bool = False
    # How a role logs in: "session" (the browser's cookie) or "jwt" (Authorization: Bearer …).
    auth: str = "session"


def batch(w):
    return {"pk": w.batch.pk}


def project(w):
    return {"pk": w.project.pk}


def section(w):
    return {"pk": w.project.pk, "key": w.key}


def version(w):
    return {"pk": w.project.pk, "key": w.key, "version_id": w.version.pk}


GET, POST, GET_POST = ("GET",), ("POST",), ("GET", "POST")

# One line per URL name. Keep it sorted by app; add new URLs here (the test tells you which).
MATRIX: dict[str, Entry] = {
    # batches
    "dashboard": Entry(None, GET, EVERYONE),
    "batch_upload": Entry(None, GET_POST, EVERYONE),
    "batch_template": Entry(None, GET, EVERYONE),
    "batch_detail": Entry(batch, GET, COLLABORATORS),
    "batch_share": Entry(batch, POST, OWNER),
    "batch_delete": Entry(batch, GET_POST, OWNER, destructive=True),
    # cards
    "batch_generate": Entry(batch, POST, COLLABORATORS),
    "batch_export": Entry(batch, GET, COLLABORATORS),
    "batch_export_xlsx": Entry(batch, GET, COLLABORATORS),
    "project_detail": Entry(project, GET, COLLABORATORS),
    "project_generate": Entry(project, POST, COLLABORATORS),
    "project_export": Entry(project, GET, COLLABORATORS),
    "project_review": Entry(project, POST, COLLABORATORS),
    "section_detail": Entry(section, GET_POST, COLLABORATORS),
    "section_save": Entry(section, GET_POST, COLLABORATORS),
    "section_edit": Entry(section, GET, COLLABORATORS),
    "section_history": Entry(section, GET, COLLABORATORS),
    "section_revert": Entry(version, POST, COLLABORATORS),
    "section_regenerate": Entry(section, GET_POST, COLLABORATORS),
    # rndcards, resilience
    # Django's LoginView (a FormView) answers PUT as it answers POST.
    "login": Entry(None, ("GET", "POST", "PUT"), EVERYONE, anonymous="open"),
    "logout": Entry(None, POST, EVERYONE, anonymous="open"),
    "health": Entry(None, GET, EVERYONE, anonymous="open"),
    # resilience: public on purpose (load balancers; the banner also shows on the login page)
    "health_detailed": Entry(None, GET, EVERYONE, anonymous="open"),
    "health_banner": Entry(None, GET, EVERYONE, anonymous="open"),
    "api_health": Entry(None, GET, EVERYONE, anonymous="open"),
    "api_health_detailed": Entry(None, GET, EVERYONE, anonymous="open"),
    # accounts: the user's own password (no object), and the e-mailed reset (public; the
    # confirm link carries a token Django checks — a made-up one shows "link invalid").
    # Django's form views answer PUT as they answer POST (as the login view does).
    "password_change": Entry(None, ("GET", "POST", "PUT"), EVERYONE),
    "password_change_done": Entry(None, GET, EVERYONE),
    "password_reset": Entry(None, ("GET", "POST", "PUT"), EVERYONE, anonymous="open"),
    "password_reset_done": Entry(None, GET, EVERYONE, anonymous="open"),
    "password_reset_confirm": Entry(
        # Its dispatch answers an invalid link with the same page whatever the method.
        lambda w: {"uidb64": "MQ", "token": "set-password"},
        ALL_METHODS,
        EVERYONE,
        anonymous="open",
    ),
    "password_reset_complete": Entry(None, GET, EVERYONE, anonymous="open"),
    # Prometheus scrape: no object; open to the allowed addresses (the test client is 127.0.0.1)
    # or a bearer token, 404 for others (rndcards/tests/test_metrics.py).
    "metrics": Entry(None, GET, EVERYONE, anonymous="open"),
    # JSON API (rndcards/api_urls.py): session or JWT; the roles use JWT here, anonymous gets 401.
    "api_batch_list": Entry(None, GET, EVERYONE, anonymous="401", auth="jwt"),
    "api_batch_upload": Entry(None, POST, EVERYONE, anonymous="401", auth="jwt"),
    "api_batch_detail": Entry(batch, GET, COLLABORATORS, anonymous="401", auth="jwt"),
    "api_batch_generate": Entry(batch, POST, COLLABORATORS, anonymous="401", auth="jwt"),
    "api_batch_export": Entry(
        lambda w: {"pk": w.batch.pk, "fmt": "xlsx"}, GET, COLLABORATORS, anonymous="401", auth="jwt"
    ),
    "api_project_detail": Entry(project, GET, COLLABORATORS, anonymous="401", auth="jwt"),
    "api_section": Entry(section, ("GET", "PUT", "PATCH"), COLLABORATORS, anonymous="401", auth="jwt"),
    "api_section_regenerate": Entry(section, POST, COLLABORATORS, anonymous="401", auth="jwt"),
    "api_token_obtain": Entry(None, POST, EVERYONE, anonymous="open"),
    "api_token_refresh": Entry(None, POST, EVERYONE, anonymous="open"),
    "api_token_verify": Entry(None, POST, EVERYONE, anonymous="open"),
    "api_schema": Entry(None, GET, EVERYONE, anonymous="open"),
    "api_docs": Entry(None, GET, EVERYONE, anonymous="open"),
}

# URLs whose kwargs are a signed token, not an object id: an unknown one is Django's
# "link invalid" page, not a 404.
TOKEN_URLS = {"password_reset_confirm"}

# URL prefixes left out of the matrix, each with its reason.
EXCLUDED = {
    "admin/": "Django admin: staff only, guarded by Django's own permissions (batches/tests/test_admin.py, "
    "accounts/tests/test_admin.py, audit/tests/test_audit.py)",
    "static/": "static files (whitenoise outside DEBUG): public assets, no objects",
    "media/": "uploaded files, served by Django only with DEBUG (development); never linked from pages",
}


def url_patterns(patterns=None, prefix: str = "", namespace: str = ""):
    """(name or None, route) of every pattern the resolver knows, recursively."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, route, ns)
        elif isinstance(pattern, URLPattern):
            yield (f"{namespace}{pattern.name}" if pattern.name else None), route


def excluded(route: str) -> bool:
    plain = route.lstrip("^")
    return any(plain.startswith(prefix) for prefix in EXCLUDED)


def uncovered() -> tuple[list[str], list[str]]:
    """(named patterns without a MATRIX line, unnamed patterns), outside EXCLUDED."""
    missing, unnamed = [], []
    for name, route in url_patterns():
        if excluded(route):
            continue
        if name is None:
            unnamed.append(route)
        elif name not in MATRIX:
            missing.append(f"{name} ({route})")
    return missing, unnamed


def test_every_url_pattern_has_a_matrix_entry():
    missing, unnamed = uncovered()
    assert not unnamed, f"URL patterns without a name (name them and add them to MATRIX): {unnamed}"
    assert not missing, (
        f"URL patterns without an ownership-matrix entry: {', '.join(missing)}. "
        f"Add a line for each to MATRIX in {__file__}."
    )


def test_a_new_url_without_an_entry_is_found_even_when_nested(settings, monkeypatch):
    import sys
    import types

    from django.http import HttpResponse
    from django.urls import include, path

    def view(request):
        return HttpResponse()

    nested = types.ModuleType("matrix_probe_nested")
    nested.app_name = "probe"
    nested.urlpatterns = [path("items/<int:pk>/", view, name="item")]
    root = types.ModuleType("matrix_probe_urls")
    root.urlpatterns = [
        *get_resolver().url_patterns,
        path("api/new/<int:pk>/", view, name="api_new_thing"),
        path("api/", include(nested)),
        path("unnamed/", view),
    ]
    monkeypatch.setitem(sys.modules, "matrix_probe_nested", nested)
    monkeypatch.setitem(sys.modules, "matrix_probe_urls", root)
    settings.ROOT_URLCONF = "matrix_probe_urls"
    missing, unnamed = uncovered()
    assert missing == ["api_new_thing (api/new/<int:pk>/)", "probe:item (api/items/<int:pk>/)"]
    assert unnamed == ["unnamed/"]


def test_every_matrix_entry_names_a_url_that_exists():
    names = {name for name, _ in url_patterns() if name}
    assert not set(MATRIX) - names, f"MATRIX lines for URLs that no longer exist: {sorted(set(MATRIX) - names)}"


# --------------------------------------------------------------------------- the world


@pytest.fixture
def make_world(owner, colleague, outsider, firm, make_batch, share):
    """make_world(): the owner's batch with one generated card, shared with a colleague of the firm."""
    from django.contrib.auth.models import User

    from accounts.models import Membership

    shared = User.objects.create_user("wspolpracownik", password="Haslo-Testowe-1")
    Membership.objects.create(user=shared, firm=firm)
    users = {"owner": owner, "shared": shared, "colleague": colleague, "outsider": outsider}

    def make() -> SimpleNamespace:
        batch = make_batch(owner, projects=1)
        share(batch, shared)
        project = generate_now(batch.projects.get())
        key = "cel_projektu"
        return SimpleNamespace(
            batch=batch,
            project=project,
            key=key,
            version=SectionVersion.objects.get(section__project=project, section__key=key, number=1),
            users=users,
        )

    return make


@pytest.fixture
def world(make_world):
    return make_world()


def url_of(name: str, w) -> str:
    entry = MATRIX[name]
    return reverse(name, kwargs=entry.kwargs(w) if entry.kwargs else None)


def log_in(client, entry: Entry, user) -> dict:
    """Log `user` in the way the URL expects; returns the headers to send."""
    if entry.auth == "jwt":
        from rndcards.jwt import tokens_for

        return {"HTTP_AUTHORIZATION": f"Bearer {tokens_for(user).access_token}"}
    client.force_login(user)
    return {}


def call(client, method: str, url: str, htmx: bool, auth: dict | None = None):
    headers = {**(HX if htmx else {}), **(auth or {})}
    return getattr(client, method.lower())(url, **headers)


CASES = [(name, role) for name in MATRIX for role in ROLES]


@pytest.mark.parametrize("name, role", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_url_answers_each_role_as_the_matrix_says(client, make_world, world, name, role):
    entry = MATRIX[name]
    auth = log_in(client, entry, world.users[role])
    allowed = role in entry.who or entry.kwargs is None
    for method in entry.methods:
        for htmx in (False, True):
            url = url_of(name, make_world() if entry.destructive else world)
            response = call(client, method, url, htmx, auth)
            where = f"{method} {url} as {role}{' (htmx)' if htmx else ''}"
            if allowed:
                assert response.status_code not in (403, 404), f"{where}: {response.status_code}"
                assert response.status_code < 500, f"{where}: {response.status_code}"
            else:
                assert response.status_code == 404, f"{where}: {response.status_code}, expected 404"
            if name == "logout":
                auth = log_in(client, entry, world.users[role])


@pytest.mark.parametrize("name", list(MATRIX))
def test_url_refuses_anonymous_as_the_matrix_says(client, world, name):
    entry = MATRIX[name]
    url = url_of(name, world)
    login = resolve_url(settings.LOGIN_URL)
    for method in entry.methods:
        for htmx in (False, True):
            response = call(client, method, url, htmx)
            where = f"anonymous {method} {url}{' (htmx)' if htmx else ''}"
            if entry.anonymous == "login" and not htmx:
                assert response.status_code == 302, f"{where}: {response.status_code}"
                assert response["Location"].startswith(f"{login}?next="), f"{where}: {response['Location']}"
            elif entry.anonymous in ("login", "401"):
                assert response.status_code == 401, f"{where}: {response.status_code}"
            else:
                assert response.status_code < 500, f"{where}: {response.status_code}"
                assert not response.get("Location", "").startswith(f"{login}?next="), f"{where}: sent to log in"


@pytest.mark.parametrize("name", list(MATRIX))
def test_url_refuses_methods_it_does_not_list(client, world, name):
    entry = MATRIX[name]
    url = url_of(name, world)
    auth = {}
    if entry.anonymous != "open":  # public pages are asked anonymously (login/ redirects a logged-in user)
        auth = log_in(client, entry, world.users["owner"])
    for method in ALL_METHODS:
        if method in entry.methods:
            continue
        response = call(client, method, url, htmx=False, auth=auth)
        assert response.status_code == 405, f"{method} {url}: {response.status_code}, expected 405"


@pytest.mark.parametrize("name", [n for n, e in MATRIX.items() if e.kwargs is not None and n not in TOKEN_URLS])
def test_object_urls_with_ids_that_do_not_exist_are_404(client, world, name):
    entry = MATRIX[name]
    kwargs = {k: (999_999 if isinstance(v, int) else v) for k, v in entry.kwargs(world).items()}
    assert kwargs != entry.kwargs(world)
    url = reverse(name, kwargs=kwargs)
    auth = log_in(client, entry, world.users["owner"])
    for method in entry.methods:
        assert call(client, method, url, htmx=False, auth=auth).status_code == 404, f"{method} {url}"
