"""Writing audit events: one helper, called by the services that change or hand out data."""

import ipaddress
import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from audit.context import current_ip, request_ip
from audit.models import AuditEvent

logger = logging.getLogger(__name__)

# `details` is for ids, counts, choices and short codes. A longer string is refused: the
# record must never carry a section's text, hints, file contents or a password, and a
# length cap is what keeps a careless caller from putting them there.
MAX_DETAIL_STRING = 80


class AuditDetailRefused(ValueError):
    """A detail value that could carry user content (long text, nested objects)."""


def _clean_detail(key: str, value):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_STRING:
            raise AuditDetailRefused(f"audit detail {key!r} is {len(value)} characters long")
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)[:100]
    raise AuditDetailRefused(f"audit detail {key!r} has type {type(value).__name__}")


def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def audit_record(
    *,
    actor,
    action: str,
    batch=None,
    project=None,
    section_key: str = "",
    request: HttpRequest | None = None,
    username: str = "",
    **details,
) -> AuditEvent:
    """Record that `actor` did `action` (AuditEvent.Action) to the batch/project; details are small values only."""
    if action not in AuditEvent.Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    clean = {key: _clean_detail(key, value) for key, value in details.items()}
    if isinstance(actor, AnonymousUser):
        actor = None
    if project is not None and batch is None:
        batch = project.batch
    if actor is not None and not username and isinstance(actor, AbstractBaseUser):
        username = actor.get_username()
    ip = request_ip(request) if request is not None else current_ip.get()
    return AuditEvent.objects.create(
        actor=actor,
        # NUL cannot be stored by PostgreSQL (a failed login may carry anything as its name).
        actor_username=(username or "").replace("\x00", "\ufffd")[:150],
        action=action,
        batch_id=batch.pk if batch is not None else None,
        batch_name=batch.name[:255] if batch is not None else "",
        project_id=project.pk if project is not None else None,
        section_key=section_key[:40],
        ip_address=_valid_ip(ip),
        details=clean,
    )
