"""The client address of the request being served, for audit records written by services.

Services take no request (they run from views, commands and workers alike); the
middleware puts the request's address here so that audit_record finds it.
"""

import contextvars

from django.http import HttpRequest

current_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_current_ip", default=None)


def request_ip(request: HttpRequest) -> str | None:
    """The client's address: X-Forwarded-For only as far as RNDCARDS_TRUSTED_PROXIES wrote it."""
    from rndcards.logs import client_ip

    return client_ip(request) or None


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = current_ip.set(request_ip(request))
        try:
            return self.get_response(request)
        finally:
            current_ip.reset(token)
