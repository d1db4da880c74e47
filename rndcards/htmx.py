"""Render a whole page, or only the named partial when htmx asks for it."""

from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers

from rndcards.http import AuthenticatedHttpRequest


def render_page(
    request: AuthenticatedHttpRequest,
    template_name: str,
    context: dict,
    *,
    partial: str | None = None,
    status: int = 200,
) -> TemplateResponse:
    """Render `template_name`, or `template_name#partial` for an htmx request."""
    if partial and request.htmx:
        template_name = f"{template_name}#{partial}"
    response = TemplateResponse(request, template_name, context, status=status)
    if partial:
        # The same URL answers with a page or a fragment: caches must keep them apart.
        patch_vary_headers(response, ("HX-Request",))
    return response
