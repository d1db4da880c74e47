"""A typed request for views: the user is authenticated and htmx details are parsed."""

import io
import re

from django.contrib.auth.models import User
from django.http import FileResponse, HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


# Characters Windows, macOS or Linux refuse in file names, and control characters.
_ILLEGAL_FILENAME_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f-\x9f]')


def download_response(data: bytes, *, name: str, extension: str, content_type: str, fallback: str) -> FileResponse:
    """An attachment named after ``name`` with its Polish letters kept (RFC 6266 ``filename*``).

    Characters file systems refuse are dropped, the name is cut to 150 characters and
    ``fallback`` is used when nothing is left; Django writes an ASCII ``filename`` beside
    the UTF-8 ``filename*`` for old clients.
    """
    name = " ".join(_ILLEGAL_FILENAME_CHARS.sub(" ", name).split()).strip(". ")[:150].strip() or fallback
    return FileResponse(io.BytesIO(data), as_attachment=True, filename=f"{name}.{extension}", content_type=content_type)
