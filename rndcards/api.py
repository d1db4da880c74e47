"""What every view of the JSON API (/api/) shares: the error shape, pagination, the schema pieces.

Every error leaves the API as ``{"error": {"code": "<snake_case>", "message": "<Polish>", ...}}``
(``fields`` only for validation errors), whatever raised it: DRF, simplejwt, our services, or a bug.
"""

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser as _JSONParser
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """A domain error with its own status, code and Polish message; ``extra`` joins the error object."""

    def __init__(self, message: str, *, code: str, status_code: int, **extra):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.extra = extra


MESSAGES = {
    "service_unavailable": "System chwilowo niedostępny: baza danych nie odpowiada. Nic nie zostało zapisane — "
    "spróbuj ponownie za minutę.",
    "not_authenticated": "Brak uwierzytelnienia: zaloguj się albo wyślij nagłówek „Authorization: Bearer <token>” "
    "z tokenem z /api/auth/token/.",
    "authentication_failed": "Nieprawidłowe dane logowania. Sprawdź login i hasło i spróbuj ponownie.",
    "token_not_valid": "Token jest nieprawidłowy albo wygasł. Pobierz nowy: POST /api/auth/token/refresh/ "
    "z tokenem odświeżania albo POST /api/auth/token/ z loginem i hasłem.",
    "permission_denied": "Nie masz uprawnień do tej operacji.",
    "csrf_failed": "Brak lub nieprawidłowy token CSRF. Przy logowaniu sesją wyślij nagłówek X-CSRFToken "
    "z wartością ciasteczka csrftoken (albo użyj tokenu JWT).",
    "login_locked": "Zbyt wiele nieudanych prób logowania — konto jest chwilowo zablokowane. Spróbuj ponownie później.",
    "not_found": "Nie znaleziono: ten adres nie istnieje albo obiekt nie należy do Ciebie.",
    "method_not_allowed": "Metoda {method} nie jest dozwolona pod tym adresem.",
    "not_acceptable": "Nie można odpowiedzieć w żądanym formacie (nagłówek Accept).",
    "unsupported_media_type": "Nieobsługiwany typ treści „{media_type}”. Wyślij JSON (application/json){multipart}.",
    "parse_error": "Nie udało się odczytać treści żądania: to nie jest poprawny JSON (albo formularz). "
    "Popraw treść i wyślij ponownie.",
    "rate_limited": "Zbyt wiele żądań. Spróbuj ponownie za {wait} s.",
    "request_too_large": "Treść żądania jest za duża. Wyślij mniej danych (plik .xlsx w polu „file”).",
    "validation_error": "Dane są niepoprawne — popraw wskazane pola i wyślij ponownie.",
    "server_error": "Wystąpił nieoczekiwany błąd serwera. Nic nie zostało zapisane w połowie; spróbuj ponownie "
    "za chwilę, a jeśli błąd się powtarza, zgłoś go administratorowi.",
}


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _fields(detail) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail as {"field": ["message", ...]}; nested fields joined with dots."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for name, value in detail.items():
            key = "non_field_errors" if name in ("non_field_errors", "__all__") else str(name)
            if isinstance(value, dict | list) and any(isinstance(v, dict) for v in _iter(value)):
                for sub, messages in _fields(value).items():
                    out[f"{key}.{sub}"] = messages
            else:
                out[key] = [str(m) for m in _flat(value)]
        return out
    if isinstance(detail, list) and any(isinstance(v, dict) for v in detail):
        out = {}
        for index, value in enumerate(detail):
            for sub, messages in _fields(value).items():
                out[f"{index}.{sub}"] = messages
        return out
    return {"non_field_errors": [str(m) for m in _flat(detail)]}


def _iter(value):
    return value.values() if isinstance(value, dict) else value


def _flat(value) -> list:
    if isinstance(value, list | tuple):
        return [m for item in value for m in _flat(item)]
    if isinstance(value, dict):
        return [m for item in value.values() for m in _flat(item)]
    return [value]


def _response(exc: exceptions.APIException, code: str, message: str, **extra) -> Response:
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(error_body(code, message, **extra), status=exc.status_code, headers=headers)


def _database_unreachable(exc: DatabaseError) -> bool:
    """The database is away (connection refused, server gone), as resilience.views decides for pages."""
    from resilience.views import DATABASE_ERRORS

    return isinstance(exc, DATABASE_ERRORS)


def exception_handler(exc: Exception, context: dict) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every exception of an API view becomes the error shape."""
    # Imported here: rest_framework.views reads the REST_FRAMEWORK setting, which names this module.
    from rest_framework.views import set_rollback

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif type(exc).__name__ == "AxesBackendPermissionDenied":  # django-axes lockout, without importing it
        set_rollback()
        return Response(error_body("login_locked", MESSAGES["login_locked"]), status=status.HTTP_403_FORBIDDEN)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = ApiError(MESSAGES["request_too_large"], code="request_too_large", status_code=413)
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError()

    if isinstance(exc, DatabaseError) and _database_unreachable(exc):
        # Degraded mode, not a bug: the database is away (DESIGN: "system unavailable").
        set_rollback()
        response = Response(error_body("service_unavailable", MESSAGES["service_unavailable"]), status=503)
        response["Retry-After"] = "60"
        return response
    if not isinstance(exc, exceptions.APIException):
        # A bug: logged with its traceback for us, a Polish message and no details for the client.
        logger.exception("Unhandled exception in API view %s", context.get("view").__class__.__name__)
        set_rollback()
        return Response(error_body("server_error", MESSAGES["server_error"]), status=500)

    set_rollback()
    request = context.get("request")
    if isinstance(exc, ApiError):
        return _response(exc, exc.error_code, str(exc.detail), **exc.extra)
    if isinstance(exc, exceptions.ValidationError):
        return _response(exc, "validation_error", MESSAGES["validation_error"], fields=_fields(exc.detail))
    if isinstance(exc, exceptions.NotAuthenticated):
        return _response(exc, "not_authenticated", MESSAGES["not_authenticated"])
    if isinstance(exc, exceptions.AuthenticationFailed):
        # simplejwt's InvalidToken is an AuthenticationFailed with code "token_not_valid"; a wrong
        # login or password at /api/auth/token/ is "no_active_account".
        codes = exc.get_codes()
        code = codes.get("code", "") if isinstance(codes, dict) else codes
        if code == "token_not_valid" or type(exc).__name__ == "InvalidToken":
            return _response(exc, "token_not_valid", MESSAGES["token_not_valid"])
        return _response(exc, "authentication_failed", MESSAGES["authentication_failed"])
    if isinstance(exc, exceptions.PermissionDenied):
        if str(exc.detail).startswith("CSRF Failed"):
            return _response(exc, "csrf_failed", MESSAGES["csrf_failed"])
        return _response(exc, "permission_denied", MESSAGES["permission_denied"])
    if isinstance(exc, exceptions.NotFound):
        return _response(exc, "not_found", MESSAGES["not_found"])
    if isinstance(exc, exceptions.MethodNotAllowed):
        method = getattr(request, "method", "") or ""
        return _response(exc, "method_not_allowed", MESSAGES["method_not_allowed"].format(method=method[:20]))
    if isinstance(exc, exceptions.NotAcceptable):
        return _response(exc, "not_acceptable", MESSAGES["not_acceptable"])
    if isinstance(exc, exceptions.UnsupportedMediaType):
        media_type = (getattr(request, "content_type", "") or "")[:100]
        view = context.get("view")
        multipart = " albo multipart/form-data" if _accepts_multipart(view) else ""
        message = MESSAGES["unsupported_media_type"].format(media_type=media_type, multipart=multipart)
        return _response(exc, "unsupported_media_type", message)
    if isinstance(exc, exceptions.ParseError):
        return _response(exc, "parse_error", MESSAGES["parse_error"])
    if isinstance(exc, exceptions.Throttled):
        return _response(exc, "rate_limited", MESSAGES["rate_limited"].format(wait=int(exc.wait or 1)))
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    return _response(exc, str(code), str(exc.detail) if isinstance(exc.detail, str) else MESSAGES["server_error"])


def _accepts_multipart(view) -> bool:
    from rest_framework.parsers import MultiPartParser

    return any(issubclass(parser, MultiPartParser) for parser in getattr(view, "parser_classes", ()))


# --------------------------------------------------------------------------- Django's own errors under /api/


def api_or_page_not_found(request: HttpRequest, exception: Exception | None = None):
    """handler404: JSON for /api/ (no view matched), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", MESSAGES["not_found"]), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_or_server_error(request: HttpRequest):
    """handler500: JSON for /api/ (an error outside a DRF view, e.g. in middleware), the page elsewhere."""
    if request.path.startswith("/api/"):
        exc = sys.exc_info()[1]
        if isinstance(exc, DatabaseError) and _database_unreachable(exc):
            response = JsonResponse(error_body("service_unavailable", MESSAGES["service_unavailable"]), status=503)
            response["Retry-After"] = "60"
            return response
        return JsonResponse(error_body("server_error", MESSAGES["server_error"]), status=500)
    # Elsewhere the page: a Polish "system unavailable" 503 when the database is away.
    from resilience.views import server_error

    return server_error(request)


# --------------------------------------------------------------------------- pagination


class Pagination(PageNumberPagination):
    """?page=N (20 a page), ?page_size= up to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    invalid_page_message = "Nie ma takiej strony."


# --------------------------------------------------------------------------- parsing


class JSONParser(_JSONParser):
    """DRF's JSON parser with the body size limit Django applies to forms, and no 500 on deep nesting."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request is not None and limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise ApiError(
                    f"Treść żądania ma {length} bajtów, a dopuszczalne jest {limit}. Wyślij mniej danych.",
                    code="request_too_large",
                    status_code=413,
                )
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # "[[[[…" nested deeper than the interpreter's stack
            raise exceptions.ParseError() from None
