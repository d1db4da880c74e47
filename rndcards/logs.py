"""Structured logs and the request id that ties a request to the jobs it queued.

The id of the request being served lives in a contextvar. A logging filter puts it on
every record (``record.request_id``), the Django middleware sets it per request, and a
Dramatiq middleware copies it into each message sent meanwhile and restores it in the
worker around the actor, so a worker's log lines carry the id of the request that asked
for the work. Nothing here reads Django settings at import time.
"""

import contextvars
import ipaddress
import re
import uuid

import dramatiq
from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy may hand us: a UUID, a hex trace id, "abc-123.def"… Anything else (spaces,
# quotes, control characters, a novel) would end up verbatim in every log line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
MESSAGE_OPTION = "request_id"


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter:
    """Put the current request id (or "-") on every record passing through a handler."""

    def filter(self, record) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, request id, plus any `extra`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", *args, **kwargs)


def ip_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request) -> str:
    """The client's address as a string (``rndcards.ratelimit.client_address``: X-Forwarded-For
    only as far as the trusted proxies wrote it); REMOTE_ADDR as given when it cannot be read."""
    from rndcards.ratelimit import client_address

    address = client_address(request)
    return str(address) if address is not None else request.META.get("REMOTE_ADDR", "")


class RequestIdMiddleware:
    """Give every request an id: the trusted proxy's X-Request-ID when it is a sane token,
    else a new one. It is on every log record while the request runs, in the messages
    of the jobs it queues, and in the response's X-Request-ID header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from rndcards.ratelimit import from_trusted_proxy

        offered = request.META.get("HTTP_X_REQUEST_ID", "")
        from_proxy = from_trusted_proxy(request)
        request_id = offered if from_proxy and SANE_REQUEST_ID.fullmatch(offered) else new_request_id()
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdDramatiqMiddleware(dramatiq.Middleware):
    """Carry the request id from the code that sends a message into the actor that runs it.

    A message sent while a request (or a job carrying an id) runs gets the id in its
    options; the worker sets it around the actor. Messages sent from a job (a retry, a
    freed slot's hand-over) so inherit the id of the request that started the chain.
    """

    def before_enqueue(self, broker, message, delay):
        request_id = request_id_var.get()
        if request_id and MESSAGE_OPTION not in message.options:
            message.options[MESSAGE_OPTION] = request_id

    def before_process_message(self, broker, message):
        offered = message.options.get(MESSAGE_OPTION, "")
        # A message is data from the broker: the same shape rule as for a proxy's header.
        request_id_var.set(offered if isinstance(offered, str) and SANE_REQUEST_ID.fullmatch(offered) else "")

    def after_process_message(self, broker, message, *, result=None, exception=None):
        request_id_var.set("")

    after_skip_message = after_process_message
