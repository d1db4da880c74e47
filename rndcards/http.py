"""A typed request for views: the user is authenticated and htmx details are parsed."""

import io
import re
import unicodedata
from urllib.parse import quote

from django.contrib.auth.models import User
from django.http import FileResponse, HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


# Characters Windows, macOS or Linux refuse in file names, and control characters.
_ILLEGAL_FILENAME_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f-\x9f]')
_POLISH_TO_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def _without_format_characters(text: str) -> str:
    """``text`` without Unicode format characters (category Cf: bidi overrides and isolates,
    zero-width characters, soft hyphens), so that "karta\u202excod.docx" cannot show as
    "kartadocx.exe" in a browser's download bar."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _ascii_filename(filename: str) -> str:
    """``filename`` for clients that ignore ``filename*``: Polish letters without diacritics,
    other non-ASCII characters as "_", no quotes or backslashes (nothing to escape)."""
    text = unicodedata.normalize("NFC", filename).translate(_POLISH_TO_ASCII)
    return _NOT_PRINTABLE_ASCII.sub("_", text).replace('"', "").replace("\\", "")


def download_response(data: bytes, *, name: str, extension: str, content_type: str, fallback: str) -> FileResponse:
    """An attachment named after ``name``: RFC 6266 ``filename`` (ASCII) and, when the name is
    not plain ASCII, ``filename*`` with its Polish letters kept.

    Format characters and characters file systems refuse are dropped, the name is cut to
    150 characters and ``fallback`` (ASCII) is used when nothing is left.
    """
    name = _without_format_characters(name)
    name = " ".join(_ILLEGAL_FILENAME_CHARS.sub(" ", name).split()).strip(". ")[:150].strip() or fallback
    filename = f"{name}.{extension}"
    ascii_name = _ascii_filename(name)
    if not any(c.isalnum() for c in ascii_name):  # e.g. a name in Chinese: "__.docx" helps nobody
        ascii_name = fallback
    response = FileResponse(io.BytesIO(data), as_attachment=True, filename=filename, content_type=content_type)
    # Django writes either filename or filename*; old clients need the first, Polish names the second.
    disposition = f'attachment; filename="{ascii_name}.{extension}"'
    if f"{ascii_name}.{extension}" != filename:
        disposition += f"; filename*=utf-8''{quote(filename, safe='')}"
    response["Content-Disposition"] = disposition
    return response
