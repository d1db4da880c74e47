"""The workbook upload's size limit, enforced while the request body arrives.

Two checks, both before anything is parsed and before the whole body is stored:

- ``content_length_problem``: a request whose Content-Length already says the body is over
  the limit is refused without parsing it (the view calls it before touching request.POST/FILES);
- ``SizeLimitUploadHandler``: the first upload handler of the upload view only; it counts the
  file's bytes as they arrive and stops the upload as soon as they pass the limit, so Django's
  memory/temporary-file handlers behind it never get more than the limit (a client that sends
  no or a wrong Content-Length cannot get around it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

# Room for the other form fields and the multipart boundaries around the file.
MULTIPART_ALLOWANCE = 64 * 1024
# A refused body up to this many times the limit is read and thrown away (never stored), so
# that browsers get the Polish page rather than a reset connection; past it the body is not
# read at all (the front proxy's body limit should stop such requests first).
DRAIN_FACTOR = 4
DRAIN_CHUNK = 64 * 1024


@dataclass(frozen=True)
class UploadTooLarge:
    limit: int
    size: int | None = None  # bytes, when known; None: "more than the limit"
    filename: str = ""
    approximate: bool = False  # size from Content-Length (includes the other form fields)

    @property
    def message(self) -> str:
        limit = filesizeformat(self.limit)
        advice = _(
            "Usuń zbędne arkusze, obrazy i puste sformatowane wiersze albo podziel projekty na kilka plików "
            "i prześlij plik ponownie."
        )
        subject = _("Plik „%(name)s”") % {"name": self.filename} if self.filename else _("Przesłany plik")
        if self.size is None:
            size = _("ponad %(limit)s") % {"limit": limit}
        elif self.approximate:
            size = _("około %(size)s") % {"size": filesizeformat(self.size)}
        else:
            size = filesizeformat(self.size)
        return _("%(subject)s ma %(size)s, a największy dopuszczalny rozmiar to %(limit)s. %(advice)s") % {
            "subject": subject,
            "size": size,
            "limit": limit,
            "advice": advice,
        }


def content_length_problem(request: HttpRequest, limit: int) -> UploadTooLarge | None:
    """The refusal for a body that Content-Length says is over the limit (None: go on)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return None  # Django's own parser refuses a malformed Content-Length
    if length <= limit + MULTIPART_ALLOWANCE:
        return None
    return UploadTooLarge(limit=limit, size=length, approximate=True)


def discard_body(request: HttpRequest, limit: int) -> None:
    """Read and throw away a refused body if it is not too big to bother; never store it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return
    if length > DRAIN_FACTOR * limit + MULTIPART_ALLOWANCE:
        return
    stream = request  # HttpRequest.read() reads the (length-limited) body stream
    try:
        while stream.read(DRAIN_CHUNK):
            pass
    except OSError:
        pass  # the client went away: nothing to answer anyway


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops the upload when a file passes ``limit`` bytes; records why on the request."""

    def __init__(self, request: HttpRequest, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = UploadTooLarge(limit=self.limit, filename=self.file_name or "")
            # connection_reset=False: Django reads the rest of the body (at most the multipart
            # allowance, as Content-Length was checked first) without storing it, and the
            # handlers behind this one close and delete what they had.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int):
        return None  # the next handler (memory or temporary file) builds the file
