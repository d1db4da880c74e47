"""Logins, logouts and failed logins, from Django's own auth signals."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import audit_record


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs):
    audit_record(actor=user, action=AuditEvent.Action.LOGIN, request=request)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs):
    # user is None when the session had already expired: nothing to record.
    if user is not None:
        audit_record(actor=user, action=AuditEvent.Action.LOGOUT, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password in `credentials` with stars; only the
    # name that was tried is kept (cut to the field's length).
    username = str(credentials.get("username", ""))[:150]
    audit_record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, request=request, username=username)
