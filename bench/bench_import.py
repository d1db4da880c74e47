"""Workbook import: validation time of the case files, and how fast and in how little memory
huge and hostile uploads are refused.

Scenarios (each measured in a child process of its own, so its peak RSS is its own):
  cases       batches/tests/data/projekty-20.xlsx and puste-sformatowane-wiersze.xlsx through
              excel.read_workbook (the whole validation), median of RUNS runs: target < 100 ms
  big         a workbook of 100 000 project rows written like Excel writes it (shared strings),
              just under RNDCARDS_MAX_UPLOAD_BYTES, through the parser: refused for the number of
              projects in < 1 s with a peak RSS < 200 MB
  over-limit  the same rows with longer text, over the size limit, through the upload's own checks:
              the Content-Length check and, for a client that hides the size, the upload handler
              inside Django's multipart parser (RequestFactory, no database)
  bombs       a 1 GB zip bomb (~1 MB on disk) and one whose zip directory lies about its size,
              through the parser: < 1 s, < 200 MB

Run through the driver (`make bench`, or `python bench/run.py --only import`), or alone:
`python -m bench.bench_import --out /tmp/x.json`.
"""

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from bench.common import ROOT, exit_on_sigterm, figure, log, write_result

NAME = "import"
TITLE = "Workbook import: validation time, refusal of huge and hostile uploads (time, peak RSS)"
CASES = ROOT / "batches" / "tests" / "data"
RUNS = 15  # runs of each case file (median)
BIG_RUNS = 3
BIG_ROWS = 100_000
LIMIT = 10 * 1024 * 1024  # RNDCARDS_MAX_UPLOAD_BYTES default
TARGET_CASE_MS = 100
TARGET_REFUSE_S = 1.0
TARGET_RSS_MB = 200


# --- the child side: one measurement, JSON on stdout ---------------------------------------


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_parse(path: str, runs: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from batches import excel

    data = Path(path).read_bytes()
    limits = excel.ArchiveLimits()
    baseline = _peak_rss_mb()
    times, cpu, outcome = [], [], ""
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        try:
            parsed = excel.read_workbook(data, limits=limits)
            outcome = f"accepted: {len(parsed.projects)} projects"
        except excel.WorkbookError as exc:
            outcome = "refused: " + str(exc).split("\n")[0][:160]
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {
        "times": times,
        "cpu": cpu,
        "outcome": outcome,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
        "loadavg": _loadavg(),
    }


def _loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def child_upload(path: str) -> dict:
    """The upload view's size checks on a body over the limit, without a database."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rndcards.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
    from django.test import RequestFactory

    from batches.uploadhandlers import SizeLimitUploadHandler, content_length_problem

    limit = settings.RNDCARDS_MAX_UPLOAD_BYTES
    content = Path(path).read_bytes()
    upload = SimpleUploadedFile("duzy.xlsx", content, content_type="application/octet-stream")
    request = RequestFactory().post("/batches/upload/", {"file": upload, "name": "x"})
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    refused = content_length_problem(request, limit)
    content_length_s = time.perf_counter() - started
    # A client that hides the size: the handler must stop the upload while it arrives.
    request.upload_handlers = [
        SizeLimitUploadHandler(request, limit),
        MemoryFileUploadHandler(request),
        TemporaryFileUploadHandler(request),
    ]
    started = time.perf_counter()
    files = request.FILES
    handler_s = time.perf_counter() - started
    stopped = getattr(request, "upload_too_large", None)
    return {
        "file_mb": len(content) / 1024 / 1024,
        "content_length_refused": refused is not None,
        "message": refused.message if refused else "",
        "content_length_s": content_length_s,
        "handler_stopped": stopped is not None and "file" not in files,
        "handler_s": handler_s,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


# --- the parent side -----------------------------------------------------------------------


def run_child(kind: str, path: Path, runs: int = 1) -> dict:
    """Run one measurement in a fresh interpreter (its peak RSS is its own VmHWM)."""
    cmd = [sys.executable, "-m", "bench.bench_import", "--child", kind, "--file", str(path), "--runs", str(runs)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    if proc.returncode:
        raise RuntimeError(f"child {kind} {path.name} failed: {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


WORDS = (
    "projekt badanie rozwój metoda system analiza prototyp model dane linia proces czujnik algorytm "
    "pomiar sterowanie jakość produkcja optymalizacja sieć moduł platforma integracja testy wdrożenie "
    "materiał technologia konstrukcja symulacja walidacja kalibracja obróbka powłoka spawanie laser"
).split()


def excel_like_workbook(rows: int, *, words: int, seed: int = 2024) -> bytes:
    """``rows`` distinct projects under the template's headers, written the way Excel writes a
    sheet: every text a shared string, dates as serial numbers, a <dimension> element."""
    rnd = random.Random(seed)
    strings = ["Nazwa projektu", "Opis", "Data rozpoczęcia", "Data zakończenia", "Cel projektu", "Osoba odpowiedzialna"]
    head = "".join(f'<c r="{col}1" t="s"><v>{i}</v></c>' for i, col in enumerate("ABCDEF"))
    sheet_rows = [f'<row r="1">{head}</row>']
    for n in range(2, rows + 2):
        base = len(strings)
        strings += [
            f"Projekt {n} {rnd.getrandbits(40):x}",
            " ".join(rnd.choice(WORDS) for _ in range(words)) + f" {rnd.getrandbits(64):x}",
            " ".join(rnd.choice(WORDS) for _ in range(words // 2)) + f" {rnd.getrandbits(32):x}",
            f"Osoba {rnd.getrandbits(24):x}",
        ]
        sheet_rows.append(
            f'<row r="{n}"><c r="A{n}" t="s"><v>{base}</v></c><c r="B{n}" t="s"><v>{base + 1}</v></c>'
            f'<c r="C{n}" s="1"><v>{45292 + n % 300}</v></c><c r="D{n}" s="1"><v>{45600 + n % 300}</v></c>'
            f'<c r="E{n}" t="s"><v>{base + 2}</v></c><c r="F{n}" t="s"><v>{base + 3}</v></c></row>'
        )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    sheet = (
        f'{decl}<worksheet xmlns="{main}" xmlns:r="{rel}"><dimension ref="A1:F{rows + 1}"/>'
        f"<sheetData>{''.join(sheet_rows)}</sheetData></worksheet>"
    )
    sst = (
        f'{decl}<sst xmlns="{main}" count="{len(strings)}" uniqueCount="{len(strings)}">'
        + "".join(f"<si><t>{s}</t></si>" for s in strings)
        + "</sst>"
    )
    pkg = "http://schemas.openxmlformats.org/package/2006"
    members = {
        "[Content_Types].xml": f'{decl}<Types xmlns="{pkg}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>',
        "_rels/.rels": f'{decl}<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'{decl}<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        '<sheet name="Projekty" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'{decl}<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": f'{decl}<styleSheet xmlns="{main}"><numFmts count="1"><numFmt numFmtId="164" '
        'formatCode="DD.MM.YYYY"/></numFmts><fonts count="1"><font/></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
        '<cellXfs count="2"><xf/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>',
        "xl/worksheets/sheet1.xml": sheet,
        "xl/sharedStrings.xml": sst,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, text in members.items():
            z.writestr(name, text.encode())
    return buffer.getvalue()


def sized_workbook(rows: int, *, under: bool) -> tuple[bytes, int]:
    """A workbook of ``rows`` rows just under (or clearly over) the size limit."""
    words = 18 if under else 26  # ~9.6 MB and ~11 MB for 100 000 rows
    while True:
        data = excel_like_workbook(rows, words=words)
        if under and len(data) > LIMIT and words > 1:
            words -= 1
            continue
        if not under and len(data) <= LIMIT:
            words += 4
            continue
        return data, words


class ImportBench:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.figures: list[dict] = []
        self.notes: list[str] = []
        self.details: dict = {}

    def _file(self, name: str, data: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(data)
        return path

    def scenario_cases(self) -> None:
        for key, name in (("case20", "projekty-20.xlsx"), ("formatted", "puste-sformatowane-wiersze.xlsx")):
            result = run_child("parse", CASES / name, RUNS)
            median_ms = statistics.median(result["times"]) * 1000
            self.details[key] = result
            self.figures.append(
                figure(
                    f"import.{key}.median_ms",
                    f"{name}: validation, median of {RUNS} runs ({result['outcome']})",
                    median_ms,
                    "ms",
                    target=TARGET_CASE_MS,
                    op="<=",
                    note=f"min {min(result['times']) * 1000:.1f} ms, max {max(result['times']) * 1000:.1f} ms, "
                    f"load average {result['loadavg']:.1f} on {os.cpu_count()} CPUs",
                )
            )
            self.figures.append(
                figure(
                    f"import.{key}.median_cpu_ms",
                    f"{name}: CPU time of the validation, median of {RUNS} runs",
                    statistics.median(result["cpu"]) * 1000,
                    "ms",
                    target=TARGET_CASE_MS,
                    op="<=",
                    note="what the wall time would be on an idle CPU",
                )
            )
            log(f"{name}: median {median_ms:.1f} ms — {result['outcome']}")

    def scenario_big(self) -> None:
        started = time.monotonic()
        data, words = sized_workbook(BIG_ROWS, under=True)
        log(f"built a {BIG_ROWS}-row workbook of {len(data) / 2**20:.2f} MB in {time.monotonic() - started:.1f} s")
        inflated = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
        result = run_child("parse", self._file("big.xlsx", data), BIG_RUNS)
        self.details["big"] = {**result, "file_mb": len(data) / 2**20, "inflated_mb": inflated / 2**20}
        seconds = statistics.median(result["times"])
        label = f"{BIG_ROWS} rows, {len(data) / 2**20:.1f} MB (under the limit, {inflated / 2**20:.0f} MB inflated)"
        self.figures += [
            figure(
                "import.big.refuse_s",
                f"{label}: refused by the parser, median of {BIG_RUNS}",
                seconds,
                "s",
                target=TARGET_REFUSE_S,
                op="<=",
                note=f"{result['outcome']} (load average {result['loadavg']:.1f} on {os.cpu_count()} CPUs)",
                digits=3,
            ),
            figure(
                "import.big.refuse_cpu_s",
                f"{label}: CPU time of the refusal, median of {BIG_RUNS}",
                statistics.median(result["cpu"]),
                "s",
                target=TARGET_REFUSE_S,
                op="<=",
                note="what the wall time would be on an idle CPU",
                digits=3,
            ),
            figure(
                "import.big.peak_rss_mb",
                f"{label}: peak RSS of the process",
                result["peak_rss_mb"],
                "MB",
                target=TARGET_RSS_MB,
                op="<=",
                note=f"{result['baseline_rss_mb']:.0f} MB before parsing (Python + openpyxl + lxml)",
                digits=1,
            ),
        ]
        log(f"big: {seconds:.3f} s, peak RSS {result['peak_rss_mb']:.1f} MB — {result['outcome']}")

    def scenario_over_limit(self) -> None:
        data, _ = sized_workbook(BIG_ROWS, under=False)
        result = run_child("upload", self._file("over.xlsx", data))
        self.details["over_limit"] = result
        label = f"{BIG_ROWS} rows, {result['file_mb']:.1f} MB (over the {LIMIT // 2**20} MB limit)"
        self.figures += [
            figure(
                "import.over_limit.content_length_ms",
                f"{label}: refused by the Content-Length check, body unread",
                result["content_length_s"] * 1000 if result["content_length_refused"] else None,
                "ms",
                target=TARGET_REFUSE_S * 1000,
                op="<=",
                digits=3,
            ),
            figure(
                "import.over_limit.handler_ms",
                f"{label}: stopped by the upload handler (size hidden from the Content-Length check)",
                result["handler_s"] * 1000 if result["handler_stopped"] else None,
                "ms",
                target=TARGET_REFUSE_S * 1000,
                op="<=",
                note="Django's multipart parser reads the body up to the limit, then stops storing",
                digits=1,
            ),
            figure(
                "import.over_limit.peak_rss_mb",
                f"{label}: peak RSS of the process (the request body itself is in memory here)",
                result["peak_rss_mb"],
                "MB",
                target=TARGET_RSS_MB,
                op="<=",
                digits=1,
            ),
        ]
        log(f"over limit: {result}")

    def scenario_bombs(self) -> None:
        sys.path.insert(0, str(ROOT))
        from batches.tests import hostile

        for key, label, data in (
            ("bomb", "zip bomb: a member of 1 GB of zeros", hostile.zip_bomb(1024 * hostile.MB)),
            (
                "lying_bomb",
                "zip bomb whose directory declares 4 KB for 256 MB",
                hostile.lying_zip_bomb(256 * hostile.MB),
            ),
        ):
            result = run_child("parse", self._file(f"{key}.xlsx", data), BIG_RUNS)
            self.details[key] = {**result, "file_kb": len(data) / 1024}
            seconds = statistics.median(result["times"])
            shown = f"{label} ({len(data) / 1024:.0f} KB on disk)"
            self.figures += [
                figure(
                    f"import.{key}.refuse_ms",
                    f"{shown}: refused, median of {BIG_RUNS}",
                    seconds * 1000,
                    "ms",
                    target=TARGET_REFUSE_S * 1000,
                    op="<=",
                    note=result["outcome"],
                    digits=1,
                ),
                figure(
                    f"import.{key}.peak_rss_mb",
                    f"{shown}: peak RSS",
                    result["peak_rss_mb"],
                    "MB",
                    target=TARGET_RSS_MB,
                    op="<=",
                    digits=1,
                ),
            ]
            log(f"{key}: {seconds * 1000:.1f} ms, {result['peak_rss_mb']:.1f} MB — {result['outcome']}")


SCENARIOS = ("cases", "big", "over_limit", "bombs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="where to write the JSON result")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--child", choices=["parse", "upload"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_parse(args.file, args.runs) if args.child == "parse" else child_upload(args.file)
        print(json.dumps(result))
        return
    if not args.out:
        parser.error("--out is required")
    exit_on_sigterm()
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    started = time.monotonic()
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as workdir:
        bench = ImportBench(Path(workdir))
        try:
            for name in SCENARIOS:
                if name in wanted:
                    try:
                        getattr(bench, f"scenario_{name}")()
                    except Exception as exc:
                        errors.append(f"{name}: {type(exc).__name__}: {exc}")
                        log(f"{name} failed: {exc}")
                        traceback.print_exc()
        finally:
            write_result(
                args.out,
                {
                    "bench": NAME,
                    "title": TITLE,
                    "figures": bench.figures,
                    "notes": bench.notes
                    + [
                        "Each measurement runs in a fresh interpreter; peak RSS is its VmHWM (/proc), "
                        "including the interpreter and the imported libraries.",
                        "Times are wall-clock on a machine shared with other work; the median damps the noise.",
                    ],
                    "errors": errors,
                    "config": {
                        "limits": "defaults: RNDCARDS_MAX_UPLOAD_BYTES 10 MiB, RNDCARDS_MAX_PROJECTS 20, "
                        "zip: 100 MiB declared, 1000 members, ratio 100:1 past 1 MiB",
                        "runs": {"cases": RUNS, "big/bombs": BIG_RUNS},
                    },
                    "details": bench.details,
                    "duration_s": round(time.monotonic() - started, 1),
                },
            )


if __name__ == "__main__":
    main()
