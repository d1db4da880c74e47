"""JWT tokens of the JSON API (simplejwt): obtain, refresh (rotating), verify.

Obtaining a token goes through ``django.contrib.auth.authenticate(request=…)`` (simplejwt's
serializer does it), so the login lockout counts failed API logins like failed page logins.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework_simplejwt import views as jwt_views

from rndcards.api_schema import errors


class _TokenPair(serializers.Serializer):
    access = serializers.CharField(help_text="Token dostępu (24 h): nagłówek „Authorization: Bearer <access>”.")
    refresh = serializers.CharField(help_text="Token odświeżania (7 dni, jednorazowy).")


_AUTH_ERRORS = {
    **errors(400, 415, 429),
    401: OpenApiResponse(errors(401)[401].response, description="Złe dane logowania albo nieważny token."),
    403: OpenApiResponse(errors(403)[403].response, description="Logowanie zablokowane po zbyt wielu próbach."),
}


class TokenObtainApi(jwt_views.TokenObtainPairView):
    """A token pair for a login and password."""

    @extend_schema(operation_id="auth_token_obtain", summary="Token JWT", responses={200: _TokenPair, **_AUTH_ERRORS})
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class TokenRefreshApi(jwt_views.TokenRefreshView):
    """A new token pair for a refresh token; the old refresh token is blacklisted (rotation)."""

    @extend_schema(
        operation_id="auth_token_refresh", summary="Odświeżenie tokenu", responses={200: _TokenPair, **_AUTH_ERRORS}
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class TokenVerifyApi(jwt_views.TokenVerifyView):
    """200 with an empty object if the token is valid, else 401."""

    @extend_schema(
        operation_id="auth_token_verify",
        summary="Sprawdzenie tokenu",
        responses={200: inline_serializer("TokenVerified", fields={}), **_AUTH_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
