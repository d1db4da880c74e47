"""JWT tokens bound to the password they were issued under (the API's authentication class).

A module of its own, light on imports: DRF loads the authentication class from its settings
while rest_framework.views is still being imported.
"""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import RefreshToken

# Tokens carry a fingerprint of the password they were issued under: a password change or a
# reset (a stolen laptop, a leaked token) ends every token issued before it, as it ends the
# browser sessions (Django's session hash is the same HMAC of the password hash).
PASSWORD_CLAIM = "pwd"
TOKEN_REVOKED = "Token wydano przed zmianą hasła — zaloguj się ponownie (POST /api/auth/token/)."


def password_fingerprint(user) -> str:
    return user.get_session_auth_hash()[:20]


def tokens_for(user) -> RefreshToken:
    """A refresh token (and, as `.access_token`, an access token) bound to the user's password."""
    token = RefreshToken.for_user(user)
    token[PASSWORD_CLAIM] = password_fingerprint(user)
    return token


class PasswordBoundJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing tokens issued before the password changed."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if validated_token.get(PASSWORD_CLAIM) != password_fingerprint(user):
            raise InvalidToken(TOKEN_REVOKED)
        return user
