"""JWT tokens of the JSON API (simplejwt): obtain, refresh (rotating), verify.

Obtaining a token goes through ``django.contrib.auth.authenticate(request=…)`` (simplejwt's
serializer does it), so the login lockout counts failed API logins like failed page logins.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings

from rndcards.api_schema import errors
from rndcards.jwt import PASSWORD_CLAIM, TOKEN_REVOKED, password_fingerprint, tokens_for


class _TokenPair(serializers.Serializer):
    access = serializers.CharField(help_text="Token dostępu (24 h): nagłówek „Authorization: Bearer <access>”.")
    refresh = serializers.CharField(help_text="Token odświeżania (7 dni, jednorazowy).")


_AUTH_ERRORS = {
    **errors(400, 415, 429),
    401: OpenApiResponse(errors(401)[401].response, description="Złe dane logowania albo nieważny token."),
    403: OpenApiResponse(errors(403)[403].response, description="Logowanie zablokowane po zbyt wielu próbach."),
}


class _ObtainSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        return tokens_for(user)


class _RefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # TokenError for a bad one: the view says 401
        user_id = refresh.get(api_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user is None or refresh.get(PASSWORD_CLAIM) != password_fingerprint(user):
            raise InvalidToken(TOKEN_REVOKED)
        return super().validate(attrs)


class TokenObtainApi(jwt_views.TokenObtainPairView):
    """A token pair for a login and password."""

    serializer_class = _ObtainSerializer

    def handle_exception(self, exc):
        # django-axes marks the request it was given (DRF's) as locked out and authenticate()
        # answers None, which simplejwt reports as a wrong password: say it is the lockout.
        if getattr(self.request, "axes_locked_out", False):
            from rndcards.lockout import lockout_response

            return lockout_response(self.request._request)
        return super().handle_exception(exc)

    @extend_schema(operation_id="auth_token_obtain", summary="Token JWT", responses={200: _TokenPair, **_AUTH_ERRORS})
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class TokenRefreshApi(jwt_views.TokenRefreshView):
    """A new token pair for a refresh token; the old refresh token is blacklisted (rotation)."""

    serializer_class = _RefreshSerializer

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
