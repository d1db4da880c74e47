"""Builders of hostile and look-alike upload files, made on the fly (nothing big is committed).

Used by batches/tests/test_upload_hardening.py and bench/bench_import.py. The zip bombs are
small on disk and huge when inflated: their deflate data is one compressed block of zeros
repeated (after a full flush a deflate stream does not refer back, so identical blocks can
be concatenated), written into a zip by hand so the directory can also lie about sizes.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path

import openpyxl

DATA = Path(__file__).parent / "data"
MB = 1024 * 1024

XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
XLSM_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
XLSB_MAIN = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"


# --------------------------------------------------------------------------- zips


@lru_cache(maxsize=8)
def case(name: str = "projekty-demo.xlsx") -> bytes:
    """One of the case workbooks (written like Excel: shared strings, XML declarations)."""
    return (DATA / name).read_bytes()


def rewrite_part(data: bytes, name: str, change) -> bytes:
    """Copy of the zip with one member's bytes changed by ``change(bytes) -> bytes``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == name:
                content = change(content)
            target.writestr(info.filename, content)
    return buffer.getvalue()


def add_members(data: bytes, members: dict[str, bytes], *, content_types=None) -> bytes:
    """Copy of the zip with members added, and [Content_Types].xml changed by ``content_types``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "[Content_Types].xml" and content_types is not None:
                content = content_types(content.decode()).encode()
            target.writestr(info.filename, content)
        for name, content in members.items():
            target.writestr(name, content)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes | str], *, stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        if stored_first is not None:
            z.writestr(zipfile.ZipInfo(stored_first), members[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, content in members.items():
            if name != stored_first:
                z.writestr(name, content)
    return buffer.getvalue()


def content_types(main_type: str, part: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{part}" ContentType="{main_type}"/></Types>'
    )


def pptx() -> bytes:
    return zip_of(
        {
            "[Content_Types].xml": content_types(PPTX_MAIN, "ppt/presentation.xml"),
            "ppt/presentation.xml": "<p:presentation/>",
        }
    )


def xlsb() -> bytes:
    return zip_of(
        {"[Content_Types].xml": content_types(XLSB_MAIN, "xl/workbook.bin"), "xl/workbook.bin": b"\x83\x01\x00"}
    )


def docx() -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph("Nazwa projektu: System wizyjny")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def ods() -> bytes:
    return zip_of(
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "META-INF/manifest.xml": "<manifest:manifest/>",
            "content.xml": "<office:document-content/>",
        },
        stored_first="mimetype",
    )


def xlsm(data: bytes | None = None) -> bytes:
    """A macro-enabled workbook: the .xlsm content type and a VBA project part (not real VBA)."""
    vba = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b'Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\nShell "calc"\r\nEnd Sub'
    )

    def types(xml: str) -> str:
        xml = xml.replace(XLSX_MAIN, XLSM_MAIN)
        return xml.replace(
            "</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>'
        )

    return add_members(data or case(), {"xl/vbaProject.bin": vba}, content_types=types)


def deflate_zeros(size: int, block: int = MB) -> bytes:
    """Raw deflate data that inflates to ``size`` zero bytes (``size`` a multiple of ``block``)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(b"\0" * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    return one * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


def _crc_of_zeros(size: int, block: int = MB) -> int:
    crc, chunk = 0, b"\0" * block
    for _ in range(size // block):
        crc = zlib.crc32(chunk, crc)
    return crc


def raw_zip(members: list[tuple[str, bytes, int, int, int | None]]) -> bytes:
    """A zip written by hand: (name, deflate data, crc, real size, size declared in the directory
    or None for the real one). The local headers always carry the real size."""
    out = io.BytesIO()
    central = []
    for name, data, crc, size, declared in members:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0))
        out.write(encoded + data)
        shown = size if declared is None else declared
        central.append(
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(data),
                shown,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    for record in central:
        out.write(record)
    size = out.tell() - start
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central), len(central), size, start, 0))
    return out.getvalue()


def workbook_members(data: bytes | None = None) -> list[tuple[str, bytes, int, int, None]]:
    """The members of a case workbook, deflated, ready for raw_zip."""
    source = zipfile.ZipFile(io.BytesIO(data or case()))
    members = []
    for info in source.infolist():
        content = source.read(info.filename)
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        members.append(
            (info.filename, compressor.compress(content) + compressor.flush(), zlib.crc32(content), len(content), None)
        )
    return members


@lru_cache(maxsize=8)
def zip_bomb(inflated: int = 1024 * MB, *, part: str = "xl/worksheets/sheet2.xml") -> bytes:
    """A real workbook plus one member of ``inflated`` zeros, declared truthfully (~1000:1)."""
    return raw_zip([*workbook_members(), (part, deflate_zeros(inflated), _crc_of_zeros(inflated), inflated, None)])


@lru_cache(maxsize=8)
def lying_zip_bomb(inflated: int = 64 * MB, declared: int = 4000) -> bytes:
    """A real workbook whose shared strings inflate to ``inflated`` bytes while the zip directory
    declares ``declared``: the declared sizes pass every limit, the real data does not."""
    members = [m for m in workbook_members() if m[0] != "xl/sharedStrings.xml"]
    strings = case_member("xl/sharedStrings.xml")
    # the real part, then zeros: valid XML start (the prolog scan passes), a huge body
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(strings) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = deflate_zeros(inflated)
    crc = zlib.crc32(strings)
    chunk = b"\0" * MB
    for _ in range(inflated // MB):
        crc = zlib.crc32(chunk, crc)
    members.append(("xl/sharedStrings.xml", head + body, crc, len(strings) + inflated, declared))
    return raw_zip(members)


def case_member(name: str, data: bytes | None = None) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data or case())).read(name)


@lru_cache(maxsize=8)
def many_members(count: int = 2000) -> bytes:
    return add_members(case(), {f"xl/media/image{i}.png": b"\x89PNG" for i in range(count)})


# --------------------------------------------------------------------------- XML

BILLION_LAUGHS = (
    '<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n"
)
XXE = '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
EXTERNAL_DTD = '<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
PARAMETER_ENTITY = '<!DOCTYPE foo [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>\n'

# what each DTD defines that a part then refers to ("" for those that define no entity)
DTDS = {"billion-laughs": (BILLION_LAUGHS, "&lol9;"), "xxe": (XXE, "&xxe;"), "external-dtd": (EXTERNAL_DTD, "")}
DTDS["parameter-entity"] = (PARAMETER_ENTITY, "")


def with_dtd(data: bytes, part: str, dtd: str, reference: str = "", *, encoding: str = "utf-8") -> bytes:
    """The workbook with ``dtd`` put before the root element of ``part``; ``reference`` (an
    entity reference) replaces one text or attribute value that openpyxl will read."""

    def change(raw: bytes) -> bytes:
        xml = raw.decode("utf-8")
        body = re.sub(r"^<\?xml[^>]*\?>\s*", "", xml)
        if reference:
            if "Anna Kowalczyk" in body:
                body = body.replace("Anna Kowalczyk", reference, 1)
            elif "<v>" in body:
                body = re.sub(r"<v>[^<]*</v>", f"<v>{reference}</v>", body, count=1)
            else:
                body = re.sub(r'(name|Target|ContentType)="[^"]*"', rf'\1="{reference}"', body, count=1)
        if encoding == "utf-8":
            return (dtd + body).encode()
        return (f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n' + dtd + body).encode(encoding)

    return rewrite_part(data, part, change)


# --------------------------------------------------------------------------- OLE2 (Compound File)

_FREE, _END, _FAT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def make_cfb(streams: dict[str, bytes]) -> bytes:
    """A minimal but valid Compound File (version 3, 512-byte sectors) holding ``streams``
    (at most 3, each padded to 4096+ bytes so it lives in normal sectors, no mini stream):
    what Excel 97-2003 (.xls, stream "Workbook") and Office encryption ("EncryptionInfo" and
    "EncryptedPackage") write, as far as telling them apart is concerned."""
    assert 1 <= len(streams) <= 3
    sectors: list[bytes] = []
    fat = [_FAT, _END]  # sector 0: the FAT, sector 1: the directory
    entries = []
    next_sector = 2
    for index, (name, content) in enumerate(streams.items(), start=1):
        content = content.ljust(max(4096, len(content)), b"\0")
        count = -(-len(content) // 512)
        padded = content.ljust(count * 512, b"\0")
        sectors += [padded[i * 512 : (i + 1) * 512] for i in range(count)]
        fat += [next_sector + i + 1 for i in range(count - 1)] + [_END]
        right = index + 1 if index < len(streams) else _NOSTREAM
        entries.append(
            _dir_entry(name, 2, left=_NOSTREAM, right=right, child=_NOSTREAM, start=next_sector, size=len(content))
        )
        next_sector += count
    assert len(fat) <= 128
    root = _dir_entry("Root Entry", 5, left=_NOSTREAM, right=_NOSTREAM, child=1, start=_END, size=0)
    directory = b"".join([root, *entries]).ljust(512, b"\0")
    directory = directory[: 128 * (len(entries) + 1)] + b"".join(
        _dir_entry("", 0, left=_NOSTREAM, right=_NOSTREAM, child=_NOSTREAM, start=0, size=0)
        for _ in range(3 - len(entries))
    )
    fat_sector = struct.pack("<128I", *(fat + [_FREE] * (128 - len(fat))))
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,  # directory sectors (0 in version 3)
        1,  # FAT sectors
        1,  # first directory sector
        0,
        4096,  # mini stream cutoff
        _END,  # first mini FAT sector
        0,
        _END,  # first DIFAT sector
        0,
    ) + struct.pack("<109I", 0, *([_FREE] * 108))
    return header + fat_sector + directory + b"".join(sectors)


def _dir_entry(name: str, kind: int, *, left: int, right: int, child: int, start: int, size: int) -> bytes:
    encoded = name.encode("utf-16-le")
    name_field = (encoded + b"\0\0").ljust(64, b"\0") if name else b"\0" * 64
    length = len(encoded) + 2 if name else 0
    return struct.pack(
        "<64sHBBIII16sIQQIQ", name_field, length, kind, 1, left, right, child, b"\0" * 16, 0, 0, 0, start, size
    )


def xls() -> bytes:
    # A BIFF8 BOF record at the start of the Workbook stream, as Excel 97-2003 writes it.
    return make_cfb({"Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00" + b"\0" * 8})


def xls_mentioning_encryption() -> bytes:
    """An .xls whose cells contain the words "EncryptedPackage" (as UTF-16, as BIFF stores
    text): a search of the bytes would call it password-protected; its directory does not."""
    text = "EncryptionInfo EncryptedPackage".encode("utf-16-le")
    return make_cfb({"Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00" + text})


def encrypted_xlsx() -> bytes:
    # What Excel writes for "Encrypt with password": the package inside an OLE2 file.
    return make_cfb(
        {"EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00", "EncryptedPackage": b"\x10\x27" + b"\xa5" * 64}
    )


def old_word() -> bytes:
    return make_cfb({"WordDocument": b"\xec\xa5\xc1\x00"})


def broken_ole() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8


# --------------------------------------------------------------------------- big workbooks


def big_workbook(rows: int, *, seed: int = 7) -> bytes:
    """A workbook with the template's headers and ``rows`` filled project rows (write-only mode)."""
    import datetime
    import random

    from batches.excel import REQUIRED_COLUMNS

    rnd = random.Random(seed)
    words = "projekt badanie rozwój metoda system analiza prototyp model dane linia proces czujnik".split()
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Projekty")
    ws.append(list(REQUIRED_COLUMNS.values()))
    for number in range(rows):
        description = " ".join(rnd.choice(words) for _ in range(18)) + f" {rnd.getrandbits(64):x}"
        ws.append(
            [
                f"Projekt {number} {rnd.getrandbits(32):x}",
                description,
                datetime.date(2024, 1, 1 + number % 28),
                datetime.date(2024, 12, 1 + number % 28),
                " ".join(rnd.choice(words) for _ in range(9)),
                f"Osoba {rnd.getrandbits(24):x}",
            ]
        )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
