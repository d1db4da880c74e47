"""OpenAPI pieces the API views share: the error shape's component and the JWT security scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The error shape, for the schema."""

    error = inline_serializer(
        "ErrorDetail",
        fields={
            "code": serializers.CharField(help_text="Stały kod błędu (snake_case), np. validation_error."),
            "message": serializers.CharField(help_text="Komunikat po polsku: co poszło nie tak i co zrobić."),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                required=False,
                help_text="Tylko przy błędach walidacji: komunikaty dla każdego pola.",
            ),
            "errors": serializers.ListField(
                child=inline_serializer(
                    "WorkbookProblem",
                    fields={
                        "row": serializers.IntegerField(allow_null=True),
                        "column": serializers.CharField(allow_null=True),
                        "message": serializers.CharField(),
                    },
                ),
                required=False,
                help_text="Tylko przy odrzuconym arkuszu: każdy problem z wierszem i kolumną.",
            ),
            "current_version": serializers.IntegerField(
                required=False, help_text="Tylko przy konflikcie wersji: obecna wersja sekcji."
            ),
        },
    )


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema responses for the given error statuses, all in the error shape."""
    descriptions = {
        400: "Niepoprawne dane (validation_error, parse_error) albo odrzucony plik.",
        401: "Brak uwierzytelnienia albo nieważny token.",
        403: "Brak tokenu CSRF przy logowaniu sesją.",
        404: "Nie ma takiego obiektu albo nie należy do Ciebie.",
        405: "Niedozwolona metoda.",
        409: "Konflikt ze stanem obiektu.",
        413: "Plik albo treść żądania za duże.",
        415: "Nieobsługiwany typ treści.",
        423: "Karta zatwierdzona — zablokowana.",
        429: "Zbyt wiele żądań.",
        503: "Kolejka zadań niedostępna.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in codes}


# Every authenticated operation can answer with these.
COMMON_ERRORS = (400, 401, 403, 404, 415, 429)


class JWTScheme(OpenApiAuthenticationExtension):
    """simplejwt ships its own extension in drf-spectacular; this one only adds a Polish description."""

    target_class = "rndcards.jwt.PasswordBoundJWTAuthentication"
    name = "jwtAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Token dostępu z POST /api/auth/token/ (ważny 24 h; odświeżanie: /api/auth/token/refresh/).",
        }
