"""Middleware of our own."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.template.loader import render_to_string


class HtmxLoginRequiredMiddleware:
    """An htmx request whose session has expired gets 401, not the login page.

    Following the redirect would swap a whole login page into a fragment of the page
    (and replace an editor holding unsaved text); a 401 lets the page keep everything
    and say what happened (static/js/app.js).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response.get("Location", "").startswith(resolve_url(settings.LOGIN_URL))
        ):
            return HttpResponse(
                "Sesja wygasła — zaloguj się ponownie.", status=401, content_type="text/plain; charset=utf-8"
            )
        return response


class MethodNotAllowedPageMiddleware:
    """Give Django's empty 405 (``require_POST``, ``LogoutView`` on GET) a Polish page.

    Reached by following a link or reloading the address a form was posted to; the bare
    405 shows a blank page. The ``Allow`` header stays as the view set it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.streaming and not response.content:
            response.content = render_to_string("405.html", request=request)
            response["Content-Type"] = "text/html; charset=utf-8"
        return response
