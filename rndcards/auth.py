"""A guard in front of Django's ModelBackend (settings.AUTHENTICATION_BACKENDS)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied


class RefuseUnstorableUsernameBackend:
    """A user name with a NUL is a failed login, not a 500.

    PostgreSQL refuses NUL in text, so Django's ModelBackend lookup would raise DataError.
    The forms (Django's and DRF's) refuse NUL already; this covers any other caller of
    authenticate(). PermissionDenied stops the other backends and counts as a failed login
    (user_login_failed, so django-axes counts it). Otherwise it steps aside (None); it has
    no get_user(), so sessions keep naming Django's ModelBackend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if isinstance(username, str) and "\x00" in username:
            raise PermissionDenied
        return None
