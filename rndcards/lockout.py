"""Login lockout (django-axes): the answer a locked-out login gets, and whose name and address count."""

import ipaddress

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone


def client_ip(request: HttpRequest) -> str | None:
    """The address failed logins are counted for: the client's own (X-Forwarded-For only as
    far as RNDCARDS_TRUSTED_PROXIES wrote it — anyone can send one), else REMOTE_ADDR."""
    from rndcards.logs import client_ip as forwarded_client_ip

    address = forwarded_client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None  # the attempts table keeps addresses only (PostgreSQL's inet)


def client_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The user name failed logins are counted for, as axes finds it, made storable.

    The login form does not limit the name's length on the server (only the widget's
    maxlength): a 10 000-character name must be a failed login, not a 500 from the attempts
    table's 255 characters. No real name is longer than 150 (User.username); PostgreSQL
    refuses NUL characters, which other login paths (the API) do not filter.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    username = credentials.get(field) if credentials else None
    if username is None and request is not None:
        username = request.POST.get(field)
    if username is None:
        return None
    return str(username).replace("\x00", "\ufffd")[:150]


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


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view; a new password set through the e-mailed link also lifts the lockout.

    Whoever holds the link controls the account's mailbox: the lockout page sends the
    consultant here, and waiting out the 15 minutes after that would make no sense.
    """

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())
        return response
