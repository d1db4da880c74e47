"""Pages of batches: the dashboard with the upload form, the template download, a batch."""

import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from batches import excel
from batches.forms import UploadForm
from batches.models import Batch, Project
from batches.selectors import batch_for_user
from batches.services import StorageUnavailable, batch_import
from cards.forms import GenerateForm
from cards.providers.registry import PROVIDER_LABELS
from cards.services import batch_similar_pairs, batch_usage, fallback_counts
from rndcards.htmx import render_page
from rndcards.http import AuthenticatedHttpRequest

# ?sort= of the batch page: the server orders the table (cards without a score last).
PROJECT_ORDERINGS = {
    "": ("row_number",),
    "score": (F("quality_score").asc(nulls_last=True), "row_number"),
    "-score": (F("quality_score").desc(nulls_last=True), "row_number"),
}

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE_FILENAME = "szablon-projektow-B+R.xlsx"


def _dashboard(request: AuthenticatedHttpRequest, form: UploadForm, *, problems=(), status: int = 200):
    batches = Batch.objects.filter(owner=request.user).annotate(
        project_count=Count("projects"),
        generated_count=Count("projects", filter=Q(projects__status=Project.Status.GENERATED)),
        approved_count=Count("projects", filter=Q(projects__review_status=Project.Review.APPROVED)),
    )
    upload = request.FILES.get("file")
    context = {
        "batches": batches,
        "form": form,
        "problems": problems,
        "rejected_filename": upload.name if upload is not None and (problems or form.errors) else "",
        "max_projects": settings.RNDCARDS_MAX_PROJECTS,
    }
    return render_page(request, "batches/dashboard.html", context, status=status)


@require_safe
@login_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The consultant's batches and the upload form."""
    return _dashboard(request, UploadForm())


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def batch_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Import an uploaded workbook, or show every problem found in it."""
    if request.method != "POST":
        # A rejected upload leaves this address in the address bar; reloading it (or opening
        # it from history) should land on the upload form, not on an error page.
        return redirect("dashboard")
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _dashboard(request, form, status=413 if form.too_large else 400)
    upload = form.cleaned_data["file"]
    try:
        batch = batch_import(
            content=upload.read(), owner=request.user, filename=upload.name, name=form.cleaned_data["name"]
        )
    except excel.WorkbookError as exc:
        return _dashboard(request, form, problems=exc.problems, status=400)
    except StorageUnavailable as exc:
        # Degraded mode: the file store is down; nothing was created, the user retries later.
        form.add_error(None, str(exc))
        return _dashboard(request, form, status=503)
    messages.success(request, _imported_message(batch.projects.count()))
    return redirect(batch)


def _imported_message(count: int) -> str:
    # Polish has three plural forms and there is no message catalogue (the source
    # language is Polish), so ngettext's two forms would say "2 projektów".
    if count == 1:
        noun = _("projekt")
    elif count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        noun = _("projekty")
    else:
        noun = _("projektów")
    return _("Zaimportowano %(count)d %(noun)s.") % {"count": count, "noun": noun}


@require_safe
@login_required
def batch_template(request: AuthenticatedHttpRequest) -> FileResponse:
    """The empty workbook that shows the expected columns."""
    return FileResponse(
        io.BytesIO(excel.template_workbook(max_projects=settings.RNDCARDS_MAX_PROJECTS)),
        as_attachment=True,
        filename=TEMPLATE_FILENAME,
        content_type=XLSX_CONTENT_TYPE,
    )


@require_safe
@login_required
def batch_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A batch with its projects; htmx polls the progress region while work is queued."""
    batch = batch_for_user(user=request.user, pk=pk)
    sort = request.GET.get("sort", "")
    if sort not in PROJECT_ORDERINGS:
        sort = ""  # an unknown value is ignored: the sheet's row order
    projects = list(batch.projects.order_by(*PROJECT_ORDERINGS[sort]))
    counts = {status: 0 for status in Project.Status.values}
    for project in projects:
        counts[project.status] += 1
        project.provider_label = PROVIDER_LABELS.get(project.provider or project.requested_provider, "")
    in_progress = counts[Project.Status.QUEUED] + counts[Project.Status.GENERATING]
    if counts[Project.Status.QUEUED]:
        # "w kolejce (3.)": the place among all of this user's queued cards, oldest first,
        # since the per-user limit serves them in that order.
        waiting = Project.objects.filter(batch__owner=request.user, status=Project.Status.QUEUED).order_by(
            "queued_at", "pk"
        )
        places = {pk: place for place, pk in enumerate(waiting.values_list("pk", flat=True), start=1)}
        for project in projects:
            project.queue_place = places.get(project.pk)
    context = {
        "batch": batch,
        "projects": projects,
        "total": len(projects),
        "generated": counts[Project.Status.GENERATED],
        "approved": sum(1 for p in projects if p.review_status == Project.Review.APPROVED),
        "queued": counts[Project.Status.QUEUED],
        "generating": counts[Project.Status.GENERATING],
        "failed": counts[Project.Status.FAILED] + counts[Project.Status.GENERATION_TIMEOUT],
        # Cards that asked for AI but got the offline draft because the provider failed.
        "fallbacks": fallback_counts(projects),
        "in_progress": in_progress,
        "generate_form": GenerateForm(),
        "usage": batch_usage(batch=batch),
        "sort": sort,
        "similar_pairs": batch_similar_pairs(batch=batch),
    }
    return render_page(request, "batches/batch_detail.html", context, partial="batch-progress")
