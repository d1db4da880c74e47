"""Login lockout (django-axes): the answer a locked-out login gets, and whose address counts."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone


def client_ip(request: HttpRequest) -> str:
    """The address failed logins are counted for.

    REMOTE_ADDR: behind a proxy that is the proxy's address, so the lockout is then per user
    name only. A forwarded-for header is not trusted here: anyone can send one.
    """
    return request.META.get("REMOTE_ADDR", "")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 with a Polish page (or the API's error JSON) and Retry-After."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    until = timezone.localtime(timezone.now() + settings.AXES_COOLOFF_TIME)
    message = (
        f"Zbyt wiele nieudanych prób logowania ({settings.AXES_FAILURE_LIMIT}) na to konto z tego adresu. "
        f"Logowanie jest zablokowane na {minutes} min (do {until:%H:%M}); każda kolejna próba w tym czasie "
        "wydłuża blokadę. Jeśli nie pamiętasz hasła, ustaw nowe przez „Nie pamiętasz hasła?”, "
        "albo poproś administratora o odblokowanie konta."
    )
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    wants_json = request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")
    if wants_json:
        response = JsonResponse(
            {"error": {"code": "login_locked", "message": message}}, status=settings.AXES_HTTP_RESPONSE_CODE
        )
    else:
        response = HttpResponse(
            render_to_string(
                "registration/lockout.html",
                {"message": message, "minutes": minutes, "until": until},
                request=request,
            ),
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )
    response["Retry-After"] = retry_after
    return response
