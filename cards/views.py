"""Pages of cards: a project's card, editing its sections, generation and Word export."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from batches.models import Project
from batches.selectors import batch_for_user, project_for_user
from cards import services
from cards.forms import GenerateForm, ReviewForm, SectionForm, SectionRegenerateForm
from cards.hints import MAX_HINTS_CHARS
from cards.models import Section, SectionVersion
from cards.providers.registry import PROVIDER_LABELS, ProviderNotConfigured
from cards.sanitize import clean_text
from cards.sections import SECTION_HEADINGS, SECTION_KEYS
from rndcards.htmx import render_page
from rndcards.http import AuthenticatedHttpRequest, download_response

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PROJECT_PAGE = "cards/project_detail.html"


def get_section(request: AuthenticatedHttpRequest, pk: int, key: str) -> Section:
    """A section of the user's own project; an unknown key or a missing section is a 404."""
    if key not in SECTION_KEYS:
        raise Http404("Unknown section")
    return get_object_or_404(
        Section.objects.select_related("project__batch", "updated_by"),
        project__pk=pk,
        project__batch__owner=request.user,
        key=key,
    )


# --------------------------------------------------------------------------- generation


@require_POST
@login_required
def batch_generate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Queue every project of the batch that is not already queued or generating."""
    batch = batch_for_user(user=request.user, pk=pk)
    form = GenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Wybierz dostawcę z listy dostępnych."))
        return redirect(batch)
    try:
        queued = services.batch_generate(
            batch=batch, provider=form.cleaned_data["provider"], include_done=form.cleaned_data["include_done"]
        )
    except services.CardsNotQueued as exc:
        messages.error(request, str(exc))
        return redirect(batch)
    if queued:
        messages.success(request, _("Dodano do kolejki projekty: %(count)d.") % {"count": queued})
    elif form.cleaned_data["include_done"]:
        messages.info(request, _("Wszystkie karty są już w kolejce, w trakcie generowania albo zatwierdzone."))
    else:
        messages.info(
            request,
            _(
                "Nie ma kart do wygenerowania: pozostałe są gotowe, w kolejce albo zatwierdzone. "
                "Aby wygenerować gotowe karty ponownie, zaznacz „Także gotowe karty”."
            ),
        )
    return redirect(batch)


@require_POST
@login_required
def project_generate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Queue one project's card again; manually edited sections are kept."""
    project = project_for_user(user=request.user, pk=pk)
    form = GenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Wybierz dostawcę z listy dostępnych."))
        return redirect(project)
    try:
        queued = services.project_regenerate(project=project, provider=form.cleaned_data["provider"])
    except (services.CardLocked, services.CardsNotQueued) as exc:
        messages.error(request, str(exc))
        return redirect(project)
    if queued:
        messages.success(request, _("Karta została dodana do kolejki. Sekcje edytowane ręcznie zostaną zachowane."))
    else:
        messages.info(request, _("Ta karta jest już w kolejce lub w trakcie generowania."))
    return redirect(project)


# --------------------------------------------------------------------------- project page


def _project_page(
    request: AuthenticatedHttpRequest,
    project: Project,
    *,
    partial: str | None = None,
    editing: str = "",
    section: Section | None = None,
    form: SectionForm | None = None,
    status: int = 200,
    panel: str = "",
    panel_context: dict | None = None,
) -> HttpResponse:
    context = {
        "project": project,
        "batch": project.batch,
        # Lazy: a single-section partial never runs this query.
        "sections": project.sections.select_related("updated_by"),
        "provider_label": PROVIDER_LABELS.get(project.provider, project.provider),
        "generate_form": GenerateForm(),
        "editing": editing,
        "section": section,
        "form": form,
        # Lazy too: only the page, the polled card and a saved section show the checklist.
        "quality": lambda: _checklist(project),
        "similar": lambda: services.project_similar(project=project),
        # One section may show a panel instead of its text: "history" or "regenerate".
        "panel": panel,
        "panel_key": section.key if panel and section is not None else "",
        "locked": project.review_status == Project.Review.APPROVED,
        **(panel_context or {}),
    }
    return render_page(request, PROJECT_PAGE, context, partial=partial, status=status)


SEVERITY_LABELS = {"E": _("błąd"), "W": _("ostrzeżenie"), "I": _("informacja")}


def _checklist(project: Project) -> dict:
    """The stored checklist for the template: failed checks first (as stored), each with its section's heading."""
    checks = []
    for check in project.quality_checks or []:
        key = check.get("section", "")
        checks.append(
            {
                **check,
                "heading": SECTION_HEADINGS.get(key, ""),
                "severity_label": SEVERITY_LABELS.get(check.get("severity", ""), ""),
            }
        )
    failed = [c for c in checks if not c.get("ok")]
    score = project.quality_score
    band = "" if score is None else ("high" if score >= 85 else "mid" if score >= 50 else "low")
    return {"score": score, "band": band, "failed": failed, "passed": [c for c in checks if c.get("ok")]}


@require_safe
@login_required
def project_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A project's card beside its input; htmx polls the card while it is being generated."""
    return _project_page(request, project_for_user(user=request.user, pk=pk), partial="project-card")


@require_safe
@login_required
def section_detail(request: AuthenticatedHttpRequest, pk: int, key: str) -> HttpResponse:
    """One section as displayed (htmx: "Anuluj" swaps it back in); otherwise the project page."""
    section = get_section(request, pk, key)
    if not request.htmx:
        return redirect(_section_url(section))
    return _project_page(request, section.project, partial="section", section=section)


@require_safe
@login_required
def section_edit(request: AuthenticatedHttpRequest, pk: int, key: str) -> HttpResponse:
    """The editor of one section (htmx), or the whole page with that section in edit mode."""
    section = get_section(request, pk, key)
    if section.project.review_status == Project.Review.APPROVED:
        return _locked_section(request, section)
    if section.project.is_in_progress:
        # The page refreshes the whole card every 2 s while it is generated: an editor
        # opened now would be swept away with the consultant's unsaved text.
        return _locked_section(request, section, message=str(IN_PROGRESS_MESSAGE))
    form = SectionForm(initial={"text": section.text})
    return _project_page(request, section.project, partial="section-edit", editing=key, section=section, form=form)


IN_PROGRESS_MESSAGE = gettext_lazy(
    "Karta jest właśnie generowana — edycja będzie możliwa, gdy generowanie się skończy (strona odświeży się sama)."
)


def _locked_section(request: AuthenticatedHttpRequest, section: Section, *, message: str = "") -> HttpResponse:
    message = message or str(services.CardLocked())
    if not request.htmx:
        messages.error(request, message)
        return redirect(_section_url(section))
    context = {"notice": message, "notice_key": section.key}
    return _project_page(
        request, section.project, partial="section", section=section, panel_context=context, status=422
    )


@require_POST
@login_required
def section_save(request: AuthenticatedHttpRequest, pk: int, key: str) -> HttpResponse:
    """Save a consultant's edit of one section and show it; an invalid text stays in the editor."""
    section = get_section(request, pk, key)
    form = SectionForm(request.POST)
    if not form.is_valid():
        return _project_page(
            request, section.project, partial="section-edit", editing=key, section=section, form=form, status=422
        )
    data = form.cleaned_data
    try:
        services.section_update(
            section=section,
            text=data["text"],
            author=request.user,
            base_version=None if data["overwrite"] else data["base_version"],
        )
    except (services.CardLocked, services.SectionConflict) as exc:
        # The text stays in the editor: nothing the consultant typed is lost.
        form.add_error("text", str(exc))
        return _project_page(
            request,
            section.project,
            partial="section-edit",
            editing=key,
            section=section,
            form=form,
            status=422,
            panel_context={"conflict": isinstance(exc, services.SectionConflict)},
        )
    done = _("Zapisano zmiany w sekcji „%(heading)s”.") % {"heading": section.heading}
    if not request.htmx:
        messages.success(request, done)
        return redirect(_section_url(section))
    # The section (saying it was saved), and the recomputed checklist as an out-of-band swap.
    context = {"notice": done, "notice_key": section.key, "notice_kind": "success"}
    return _project_page(request, section.project, partial="section-saved", section=section, panel_context=context)


@require_http_methods(["GET", "HEAD", "POST"])
def section(request: AuthenticatedHttpRequest, pk: int, key: str) -> HttpResponse:
    """The section URL: GET shows it (section_detail), POST saves it (section_save)."""
    if request.method == "POST":
        return section_save(request, pk, key)
    return section_detail(request, pk, key)


def _section_url(section: Section) -> str:
    return f"{section.project.get_absolute_url()}#section-{section.key}"


# --------------------------------------------------------------------------- review: history, revert, regenerate


def _history_page(
    request: AuthenticatedHttpRequest, section: Section, *, error: str = "", status: int = 200
) -> HttpResponse:
    versions = services.section_versions(section=section)
    raw = request.GET.get("v")
    if raw is not None:
        if not raw.isdigit():
            raise Http404("Unknown version")
        chosen = next((v for v in versions if v.pk == int(raw)), None)
        if chosen is None:  # unknown, or a version of another section
            raise Http404("Unknown version")
    else:
        # By default: what the last change did (the previous version against the current text).
        chosen = versions[1] if len(versions) > 1 else (versions[0] if versions else None)
    context = {
        "versions": versions,
        "chosen": chosen,
        "diff": services.section_diff(version=chosen, section=section) if chosen is not None else None,
        "panel_error": error,
    }
    return _project_page(
        request,
        section.project,
        partial="section-history",
        section=section,
        panel="history",
        panel_context=context,
        status=status,
    )


@require_safe
@login_required
def section_history(request: AuthenticatedHttpRequest, pk: int, key: str) -> HttpResponse:
    """A section's versions and a word-level diff of a chosen one (?v=id) against the current text."""
    return _history_page(request, get_section(request, pk, key))


@require_POST
@login_required
def section_revert(request: AuthenticatedHttpRequest, pk: int, key: str, version_id: int) -> HttpResponse:
    """Bring back an earlier version of a section, as a new manual version."""
    section = get_section(request, pk, key)
    version = get_object_or_404(SectionVersion, pk=version_id, section=section)
    try:
        services.section_revert(section=section, version=version, author=request.user)
    except services.CardLocked as exc:
        return _history_page(request, section, error=str(exc), status=422)
    done = _("Przywrócono wersję %(number)d sekcji „%(heading)s”.") % {
        "number": version.number,
        "heading": section.heading,
    }
    if not request.htmx:
        messages.success(request, done)
        return redirect(_section_url(section))
    context = {"notice": done, "notice_key": section.key, "notice_kind": "success"}
    return _project_page(request, section.project, partial="section", section=section, panel_context=context)


def _regenerate_page(
    request: AuthenticatedHttpRequest,
    section: Section,
    form: SectionRegenerateForm,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return _project_page(
        request,
        section.project,
        partial="section-regenerate",
        section=section,
        panel="regenerate",
        panel_context={"regen_form": form, "panel_error": error},
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def section_regenerate(request: AuthenticatedHttpRequest, pk: int, key: str) -> HttpResponse:
    """GET: the form for hints and model; POST: queue the regeneration of this one section."""
    section = get_section(request, pk, key)
    if request.method != "POST":
        # "Popraw z tą wskazówką" in the checklist pre-fills the hint; it is only a starting
        # text, checked like any typed hint when the form is sent.
        hint = clean_text(request.GET.get("hint", ""))[:MAX_HINTS_CHARS]
        return _regenerate_page(request, section, SectionRegenerateForm(initial={"hints": hint}))
    form = SectionRegenerateForm(request.POST)
    if not form.is_valid():
        return _regenerate_page(request, section, form, status=422)
    try:
        queued = services.section_regenerate(
            section=section, hints=form.cleaned_data["hints"], model=form.cleaned_data["model"], author=request.user
        )
    except (services.CardLocked, services.SectionBusy, services.HintsRefused, ProviderNotConfigured) as exc:
        return _regenerate_page(request, section, form, error=str(exc), status=422)
    if queued:
        done = _("Sekcja „%(heading)s” czeka na ponowne wygenerowanie.") % {"heading": section.heading}
    else:
        done = _("Ta sekcja jest już generowana — poczekaj na wynik.")
    if not request.htmx:
        messages.add_message(request, messages.SUCCESS if queued else messages.INFO, done)
        return redirect(_section_url(section))
    return _project_page(request, section.project, partial="section", section=section)


@require_POST
@login_required
def project_review(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Submit the card for review, approve it, or reopen it."""
    project = project_for_user(user=request.user, pk=pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Nieznana czynność przeglądu. Odśwież stronę i spróbuj ponownie."))
    else:
        try:
            services.project_review(project=project, action=form.cleaned_data["action"], user=request.user)
        except services.ReviewRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, REVIEW_DONE[form.cleaned_data["action"]])
    if request.htmx:
        # The status changes the whole page (every section's buttons): load it again.
        return HttpResponseClientRedirect(project.get_absolute_url())
    return redirect(project)


REVIEW_DONE = {
    "submit": gettext_lazy("Karta została przekazana do przeglądu."),
    "approve": gettext_lazy(
        "Karta została zatwierdzona. Edycja i ponowne generowanie są zablokowane do ponownego otwarcia."
    ),
    "reopen": gettext_lazy("Karta została otwarta ponownie — można ją edytować i generować."),
}


# --------------------------------------------------------------------------- export


def _docx_response(data: bytes, name: str, *, fallback: str) -> HttpResponse:
    return download_response(data, name=name, extension="docx", content_type=DOCX_CONTENT_TYPE, fallback=fallback)


@require_safe
@login_required
def batch_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The batch's cards as one Word document (cards not generated yet are left out)."""
    batch = batch_for_user(user=request.user, pk=pk)
    data = services.batch_export_docx(batch=batch)
    if data is None:
        messages.error(request, _("Żadna karta tej partii nie jest jeszcze wygenerowana — nie ma czego eksportować."))
        return redirect(batch)
    return _docx_response(data, batch.name, fallback="karty-projektow-B+R")


@require_safe
@login_required
def batch_export_xlsx(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The batch as a spreadsheet: a row per project, a column per section."""
    batch = batch_for_user(user=request.user, pk=pk)
    data = services.batch_export_xlsx(batch=batch)
    return download_response(
        data, name=batch.name, extension="xlsx", content_type=XLSX_CONTENT_TYPE, fallback="karty-projektow-B+R"
    )


@require_safe
@login_required
def project_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One project's card as a Word document."""
    project = get_object_or_404(
        Project.objects.select_related("batch").prefetch_related("sections"), pk=pk, batch__owner=request.user
    )
    data = services.project_export_docx(project=project)
    if data is None:
        messages.error(request, _("Karta tego projektu nie jest jeszcze wygenerowana — nie ma czego eksportować."))
        return redirect(project)
    return _docx_response(data, project.name, fallback="karta-projektu-B+R")
