"""Health endpoints, the degraded-mode banner, and the page shown when the database is down."""

import sys

from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from resilience.health import CRITICAL, cached_health_report, database_alive


@require_safe
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers and the database is reachable (within 5 s)."""
    if not database_alive():
        return JsonResponse({"status": "unhealthy", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "healthy"})


@require_safe
@never_cache
def health_detailed(request: HttpRequest) -> JsonResponse:
    """Every dependency, the overall status and the features available now (503 when critical)."""
    report = cached_health_report()
    return JsonResponse(
        report, status=503 if report["status"] == CRITICAL else 200, json_dumps_params={"ensure_ascii": False}
    )


@require_safe
@never_cache
def health_banner(request: HttpRequest) -> TemplateResponse:
    """The degraded-mode banner (empty when all is well); every page's htmx polls it."""
    report = cached_health_report()
    return TemplateResponse(request, "resilience/banner.html", {"limitations": report["limitations"]})


DATABASE_ERRORS = (OperationalError, InterfaceError)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that cannot be reached is an outage, not a bug — a Polish
    "system unavailable" page with 503 and Retry-After; anything else is Django's 500 page.

    Rendered without a request context: the context processors (user, messages) would ask
    the very database that is down."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_ERRORS):
        response = HttpResponse(loader.get_template("503_database.html").render(), status=503)
        response["Retry-After"] = "60"
        return response
    return HttpResponse(loader.get_template("500.html").render(), status=500)
