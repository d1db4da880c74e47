"""Pages of batches: the dashboard with the upload form, the template download, a batch,
sharing it with colleagues and deleting it."""

import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.forms import ShareForm
from accounts.services import ShareRefused, batch_share, batch_unshare, display_name
from batches import excel
from batches.forms import UploadForm
from batches.models import Batch, Project
from batches.selectors import (
    batch_for_owner,
    batch_for_user,
    batch_shared_users,
    batches_shared_with,
    firm_colleagues,
)
from batches.services import BatchBusy, StorageUnavailable, batch_delete, batch_import
from batches.uploadhandlers import SizeLimitUploadHandler, content_length_problem, discard_body
from cards.forms import GenerateForm
from cards.providers.registry import PROVIDER_LABELS
from cards.services import batch_similar_pairs, batch_usage, fallback_counts
from rndcards.htmx import render_page
from rndcards.http import AuthenticatedHttpRequest
from rndcards.ratelimit import upload_refusal

# ?sort= of the batch page: the server orders the table (cards without a score last).
PROJECT_ORDERINGS = {
    "": ("row_number",),
    "score": (F("quality_score").asc(nulls_last=True), "row_number"),
    "-score": (F("quality_score").desc(nulls_last=True), "row_number"),
}

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE_FILENAME = "szablon-projektow-B+R.xlsx"


def _with_counts(batches):
    return batches.annotate(
        project_count=Count("projects"),
        generated_count=Count("projects", filter=Q(projects__status=Project.Status.GENERATED)),
        approved_count=Count("projects", filter=Q(projects__review_status=Project.Review.APPROVED)),
    )


def _dashboard(
    request: AuthenticatedHttpRequest, form: UploadForm, *, problems=(), status: int = 200, read_files: bool = True
):
    batches = _with_counts(Batch.objects.filter(owner=request.user))
    shared = _with_counts(batches_shared_with(user=request.user).select_related("owner"))
    # read_files=False: the body was refused unread, and request.FILES would parse it now.
    upload = request.FILES.get("file") if read_files else None
    context = {
        "batches": batches,
        "shared_batches": shared,
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


@csrf_exempt  # only so that the size checks run before the body is parsed; CSRF is checked below
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def batch_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Import an uploaded workbook, or show every problem found in it."""
    if request.method != "POST":
        # A rejected upload leaves this address in the address bar; reloading it (or opening
        # it from history) should land on the upload form, not on an error page.
        return redirect("dashboard")
    limit = settings.RNDCARDS_MAX_UPLOAD_BYTES
    too_large = content_length_problem(request, limit)
    if too_large is not None:
        # Refused before the body is parsed or stored. No CSRF check is needed for that: the
        # answer changes nothing, it only shows the user's own dashboard with the message.
        discard_body(request, limit)
        form = UploadForm(data={}, too_large=too_large)
        return _dashboard(request, form, status=413, read_files=False)
    # Upload handlers can be changed only before request.POST/FILES are first read, which the
    # CSRF check does: hence csrf_exempt above and csrf_protect on the rest of the view.
    request.upload_handlers.insert(0, SizeLimitUploadHandler(request, limit))
    return _batch_upload(request)


@csrf_protect
def _batch_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES, too_large=getattr(request, "upload_too_large", None))
    # Stricter limit on uploads per user (rndcards/ratelimit.py): checked before the workbook is parsed.
    if over_limit := upload_refusal(request):
        refusal, message = over_limit
        form.add_error(None, message)
        response = _dashboard(request, form, status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
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
    for note in batch.import_notes:
        messages.info(request, note)
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
        # The owner's queue, also for a colleague: generation slots are the owner's.
        waiting = Project.objects.filter(batch__owner_id=batch.owner_id, status=Project.Status.QUEUED).order_by(
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
        # Every card in a final state (generated, failed, timed out): the run is over.
        "generation_done": bool(projects) and not in_progress and not counts[Project.Status.PENDING],
        "generate_form": GenerateForm(),
        "usage": batch_usage(batch=batch),
        "sort": sort,
        "similar_pairs": batch_similar_pairs(batch=batch, viewer=request.user),
        **_share_context(request, batch),
    }
    return render_page(request, "batches/batch_detail.html", context, partial="batch-progress")


# --------------------------------------------------------------------------- sharing


def _share_context(request: AuthenticatedHttpRequest, batch: Batch, **extra) -> dict:
    is_owner = batch.owner_id == request.user.pk
    context = {"is_owner": is_owner, "owner_name": display_name(batch.owner), **extra}
    if is_owner:
        shared_ids = set(batch_shared_users(batch=batch).values_list("pk", flat=True))
        colleagues = list(firm_colleagues(user=request.user))
        for colleague in colleagues:
            colleague.has_share = colleague.pk in shared_ids
            colleague.display = display_name(colleague)
        context["colleagues"] = colleagues
        context["in_firm"] = hasattr(request.user, "membership")
    return context


@require_POST
@login_required
def batch_share_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The owner shares the batch with a colleague of the firm, or takes the share back."""
    batch = batch_for_owner(user=request.user, pk=pk)
    form = ShareForm(request.POST)
    error = done = ""
    if not form.is_valid():
        error = _("Nie rozpoznano osoby ani czynności. Odśwież stronę i wybierz współpracownika z listy.")
    else:
        user_id, action = form.cleaned_data["user"], form.cleaned_data["action"]
        try:
            if action == "share":
                share = batch_share(batch=batch, owner=request.user, user_id=user_id)
                done = _("Udostępniono partię: %(name)s.") % {"name": display_name(share.user)}
            else:
                batch_unshare(batch=batch, owner=request.user, user_id=user_id)
                done = _("Cofnięto udostępnienie partii.")
        except ShareRefused as exc:
            error = str(exc)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(batch)
    context = {"batch": batch, **_share_context(request, batch, share_error=error, share_done=done)}
    return render_page(
        request, "batches/batch_detail.html", context, partial="share-panel", status=422 if error else 200
    )


# --------------------------------------------------------------------------- deleting


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def batch_delete_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET: ask to confirm; POST: delete the batch with its cards and source file (owner only)."""
    batch = batch_for_owner(user=request.user, pk=pk)
    if request.method != "POST":
        context = {"batch": batch, "project_count": batch.projects.count()}
        return render_page(request, "batches/batch_delete.html", context)
    name = batch.name
    try:
        count = batch_delete(batch=batch, actor=request.user)
    except BatchBusy as exc:
        messages.error(request, str(exc))
        return redirect(batch)
    messages.success(
        request,
        _("Usunięto partię „%(name)s” razem z kartami (%(count)d) i plikiem źródłowym.")
        % {"name": name, "count": count},
    )
    return redirect("dashboard")
