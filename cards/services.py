"""Business logic for cards: queueing generation, running it, editing sections."""

import logging
import secrets
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from batches.models import Batch, Project
from batches.services import batch_refresh_status
from cards.models import Section
from cards.providers.base import CardDraft, CardInput, ProviderError
from cards.providers.registry import default_provider_name, get_provider, require_configured
from cards.sanitize import sanitize_html, text_to_html
from cards.sections import SECTION_KEYS

if TYPE_CHECKING:
    from cards.export.docx import CardDoc

logger = logging.getLogger(__name__)


def project_card_input(project: Project) -> CardInput:
    return CardInput(
        name=project.name,
        description=project.description,
        goal=project.goal,
        start_date=project.start_date,
        end_date=project.end_date,
        responsible_person=project.responsible_person,
        extra=tuple((str(h), str(v)) for h, v in project.extra),
    )


def batch_generate(*, batch: Batch, provider: str = "") -> int:
    """Queue every project of the batch that is not already queued or generating."""
    ids = list(batch.projects.filter(status__in=Project.STARTABLE).values_list("pk", flat=True))
    return projects_enqueue(project_ids=ids, provider=provider, batch=batch)


def project_regenerate(*, project: Project, provider: str = "") -> int:
    """Queue one project's card again (manually edited sections are kept)."""
    if project.status not in Project.STARTABLE:
        return 0
    return projects_enqueue(project_ids=[project.pk], provider=provider, batch=project.batch)


def projects_enqueue(*, project_ids: list[int], provider: str, batch: Batch) -> int:
    from cards.tasks import generate_project
    from rndcards import worker

    provider = provider or default_provider_name()
    require_configured(provider)
    now = timezone.now()
    queued = []
    with transaction.atomic():
        for project_id in project_ids:
            # The conditional update is the claim: a double click queues a project once.
            if Project.objects.filter(pk=project_id, status__in=Project.STARTABLE).update(
                status=Project.Status.QUEUED, requested_provider=provider, queued_at=now, error_message=""
            ):
                queued.append(project_id)
        batch_refresh_status(batch=batch)

        def send() -> None:
            worker.ensure_started()
            for project_id in queued:
                generate_project.send(project_id)

        transaction.on_commit(send)
    return len(queued)


def project_generate(*, project_id: int) -> bool:
    """Generate one card. Safe to run twice: only a queued project is claimed, and only
    the current claim may store its result."""
    token = secrets.token_hex(16)
    claimed = Project.objects.filter(pk=project_id, status=Project.Status.QUEUED).update(
        status=Project.Status.GENERATING, started_at=timezone.now(), claim_token=token
    )
    if not claimed:
        return False
    project = Project.objects.select_related("batch").get(pk=project_id)
    card = project_card_input(project)
    chosen = project.requested_provider or default_provider_name()
    error = ""
    try:
        draft = get_provider(chosen).generate_card(card)
    except ProviderError as exc:
        # Until the failover chain of the resilience app exists, an AI failure still
        # leaves the consultant an honest offline draft, with the reason shown.
        logger.warning("provider %s failed for project %s: %s", chosen, project_id, exc)
        error = f"Dostawca AI nie odpowiedział poprawnie ({exc}). Zapisano szkic offline."
        draft = get_provider("offline").generate_card(card)
    with transaction.atomic():
        mine = Project.objects.select_for_update().filter(
            pk=project_id, status=Project.Status.GENERATING, claim_token=token
        )
        if not mine.exists():
            logger.info("late result for project %s discarded: its claim was taken over", project_id)
            return False
        sections_apply_draft(project=project, draft=draft)
        mine.update(
            status=Project.Status.GENERATED,
            provider=draft.provider,
            model_name=draft.model,
            generated_at=timezone.now(),
            error_message=error,
        )
    batch_refresh_status(batch=project.batch)
    return True


def project_mark(*, project_id: int, status: str, message: str) -> None:
    """Record that a claimed generation ended without a card."""
    project = Project.objects.select_related("batch").get(pk=project_id)
    Project.objects.filter(pk=project_id, status=Project.Status.GENERATING).update(status=status, error_message=message)
    batch_refresh_status(batch=project.batch)


def sections_apply_draft(*, project: Project, draft: CardDraft) -> None:
    """Store a provider's sections; a consultant's manual edit is never overwritten."""
    origin = Section.Origin.OFFLINE if draft.provider == "offline" else Section.Origin.AI
    with transaction.atomic():
        existing = {s.key: s for s in Section.objects.select_for_update().filter(project=project)}
        for position, key in enumerate(SECTION_KEYS):
            section = existing.get(key)
            if section is not None and section.origin == Section.Origin.MANUAL:
                continue
            if section is None:
                section = Section(project=project, key=key, position=position)
            section.text = text_to_html(draft.sections[key])
            section.origin = origin
            section.provider = draft.provider
            section.model_name = draft.model
            section.updated_by = None
            section.save()


def section_update(*, section: Section, text: str, author: User) -> Section:
    """Save a consultant's edit of one section (sanitized HTML)."""
    section.text = sanitize_html(text)
    section.origin = Section.Origin.MANUAL
    section.updated_by = author
    section.save(update_fields=["text", "origin", "updated_by", "updated_at"])
    return section


OFFLINE_NOTE = "Szkic przygotowany bez udziału AI — wymaga uzupełnienia przez konsultanta."


def card_document(project: Project) -> "CardDoc":
    """The export's view of a project: its existing sections in order (prefetch them)."""
    from cards.export.docx import CardDoc

    sections = sorted(project.sections.all(), key=lambda s: s.position)
    return CardDoc(
        title=project.name,
        start_date=project.start_date,
        end_date=project.end_date,
        responsible_person=project.responsible_person,
        sections=tuple((s.heading, s.text) for s in sections),
        note=OFFLINE_NOTE if project.is_offline_draft else "",
        row_number=project.row_number,
    )


def batch_export_docx(*, batch: Batch) -> bytes | None:
    """The batch's Word document (title page, one card per project that has sections),
    or None when no card has been generated yet."""
    from cards.export.docx import BatchDoc, render_batch

    projects = batch.projects.prefetch_related("sections").order_by("row_number")
    cards = tuple(card_document(p) for p in projects if p.sections.all())
    if not cards:
        return None
    return render_batch(BatchDoc(name=batch.name, created=timezone.localdate(), cards=cards))


def project_export_docx(*, project: Project) -> bytes | None:
    """One card as a Word document, or None when it has no sections yet."""
    from cards.export.docx import render_card

    if not project.sections.all():
        return None
    return render_card(card_document(project), batch_name=project.batch.name)


def batch_progress(*, batch: Batch) -> dict[str, int]:
    """Counts of the batch's projects by status, plus 'total' and 'done'."""
    from django.db.models import Count

    counts = {s: 0 for s in Project.Status.values}
    for row in batch.projects.values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[s] for s in Project.Status.values)
    counts["done"] = (
        counts["total"]
        - counts[Project.Status.QUEUED]
        - counts[Project.Status.GENERATING]
        - counts[Project.Status.PENDING]
    )
    return counts
