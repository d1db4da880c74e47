"""Business logic for cards: queueing generation, running it, editing sections."""

import datetime
import functools
import hashlib
import logging
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from batches.models import Batch, Project
from batches.services import batch_refresh_status
from cards import hints as hints_filter
from cards import similarity
from cards.models import GenerationAttempt, Section, SectionVersion
from cards.prompts import PROMPT_VERSION
from cards.providers.base import CardDraft, CardInput
from cards.providers.registry import (
    MODEL_CHOICES,
    PROVIDER_LABELS,
    ProviderNotConfigured,
    configured_providers,
    default_provider_name,
    get_provider,
    require_configured,
)
from cards.quality import QualityReport, card_quality, plain
from cards.sanitize import clean_text, html_to_text, sanitize_html, text_to_html
from cards.sections import SECTION_HEADINGS, SECTION_KEYS
from resilience.failover import (
    OFFLINE,
    Attempt,
    DeadlinePassed,
    FailoverExhausted,
    FailoverResult,
    failover_chain,
    generate_with_failover,
)
from rndcards.metrics import generation_attempt_observe
from rndcards.ratelimit import shared_redis_down

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


# The cards "generate all" writes by default: those without a card yet, or whose last
# attempt failed. Finished cards are regenerated only when asked for (include_done), since
# that replaces paid AI text.
NOT_DONE = (Project.Status.PENDING, Project.Status.FAILED, Project.Status.GENERATION_TIMEOUT)


def batch_generate(*, batch: Batch, provider: str = "", include_done: bool = False, actor: User | None = None) -> int:
    """Queue the batch's cards that have none yet (or failed); with include_done also the
    finished ones. Cards queued, generating or approved are never touched."""
    ids = list(
        batch.projects.filter(status__in=Project.STARTABLE if include_done else NOT_DONE)
        .exclude(review_status=Project.Review.APPROVED)
        .values_list("pk", flat=True)
    )
    return _enqueue_audited(
        project_ids=ids, provider=provider, batch=batch, actor=actor, include_done=include_done, run=True
    )


def project_regenerate(*, project: Project, provider: str = "", actor: User | None = None) -> int:
    """Queue one project's card again (manually edited sections are kept); an approved card is refused."""
    card_check_unlocked(project=project)
    if project.status not in Project.STARTABLE:
        return 0
    return _enqueue_audited(
        project_ids=[project.pk], provider=provider, batch=project.batch, actor=actor, project=project
    )


def _enqueue_audited(
    *,
    project_ids: list[int],
    provider: str,
    batch: Batch,
    actor: User | None,
    project=None,
    run: bool = False,
    **details,
) -> int:
    try:
        queued = projects_enqueue(project_ids=project_ids, provider=provider, batch=batch, run=run)
    except CardsNotQueued as exc:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.GENERATE,
            batch=batch,
            project=project,
            provider=provider or default_provider_name(),
            queued=exc.queued,
            queue_down=True,
            **details,
        )
        raise
    audit_record(
        actor=actor,
        action=AuditEvent.Action.GENERATE,
        batch=batch,
        project=project,
        provider=provider or default_provider_name(),
        queued=queued,
        **details,
    )
    return queued


QUEUE_DOWN_MESSAGE = (
    "Kolejka zadań jest chwilowo niedostępna, więc karty nie trafiły do generowania. "
    "Nic nie zostało utracone — spróbuj ponownie za chwilę."
)


QUEUE_DOWN_SECTION_MESSAGE = (
    "Kolejka zadań jest chwilowo niedostępna, więc sekcja nie trafiła do ponownego generowania. "
    "Nic nie zostało utracone — spróbuj ponownie za chwilę."
)


class CardsNotQueued(Exception):
    """The broker was away: some cards could not be queued (they are marked failed, retryable)."""

    def __init__(self, message: str, *, queued: int):
        super().__init__(message)
        self.queued = queued


def _send_generations(project_ids: list[int]) -> list[int]:
    """Send the queued projects' messages; those the broker refused are marked failed
    (retryable, with a Polish reason) — nothing may stay "queued" without a message, it
    would wait for ever. Returns the ids not sent."""
    from cards.tasks import QueueUnavailable, enqueue_generations
    from rndcards import worker

    try:
        worker.ensure_started()
        enqueue_generations(project_ids)
    except QueueUnavailable as exc:
        Project.objects.filter(pk__in=exc.unsent, status=Project.Status.QUEUED).update(
            status=Project.Status.FAILED, error_message=QUEUE_DOWN_MESSAGE
        )
        for batch in Batch.objects.filter(projects__pk__in=exc.unsent).distinct():
            batch_refresh_status(batch=batch)
        return exc.unsent
    return []


def projects_enqueue(*, project_ids: list[int], provider: str, batch: Batch, run: bool = False) -> int:
    """Queue these projects of the batch; `run` (generate all) starts a new generation run,
    whose end the owner is told by e-mail (batches.services.batch_refresh_status)."""
    provider = provider or default_provider_name()
    require_configured(provider)
    now = timezone.now()
    queued = []
    with transaction.atomic():
        for project_id in project_ids:
            # The conditional update is the claim: a double click queues a project once.
            startable = Project.objects.filter(pk=project_id, status__in=Project.STARTABLE)
            # Checked again in the claim: a card approved meanwhile is not regenerated.
            if startable.exclude(review_status=Project.Review.APPROVED).update(
                status=Project.Status.QUEUED, requested_provider=provider, queued_at=now, error_message=""
            ):
                queued.append(project_id)
        if run and queued:
            # In the queueing transaction: a card finishing at once must already see the run.
            Batch.objects.filter(pk=batch.pk).update(generation_run=F("generation_run") + 1)
        batch_refresh_status(batch=batch)

        unsent: list[int] = []
        transaction.on_commit(lambda: unsent.extend(_send_generations(queued)))
    if unsent:
        raise CardsNotQueued(QUEUE_DOWN_MESSAGE, queued=len(queued) - len(unsent))
    return len(queued)


def projects_requeue_stuck(*, older_than: datetime.timedelta, project_ids: list[int] | None = None) -> list[int]:
    """Requeue projects left queued or generating for longer than `older_than` (a worker
    died, a message was lost), all of them or those of `project_ids`; returns their ids.
    A job that is in fact still running loses its claim and its late result is discarded;
    the requeued one writes the card."""
    cutoff = timezone.now() - older_than
    stuck = Project.objects.filter(
        Q(status=Project.Status.QUEUED, queued_at__lt=cutoff)
        | Q(status=Project.Status.GENERATING, started_at__lt=cutoff)
    )
    if project_ids is not None:
        stuck = stuck.filter(pk__in=project_ids)
    ids = list(stuck.values_list("pk", flat=True))
    now = timezone.now()
    Project.objects.filter(pk__in=ids).update(status=Project.Status.QUEUED, queued_at=now, claim_token="")
    for batch in Batch.objects.filter(projects__pk__in=ids).distinct():
        batch_refresh_status(batch=batch)
    transaction.on_commit(lambda: _send_generations(ids))
    return ids


def projects_requeue_unsent() -> tuple[list[int], int]:
    """Queue again the cards that failed only because the broker was away when they were
    queued (QUEUE_DOWN_MESSAGE), with the provider asked for then; returns the ids queued
    and how many the broker refused again. Run by `requeue_stuck` once the broker is back."""
    waiting = (
        Project.objects.filter(status=Project.Status.FAILED, error_message=QUEUE_DOWN_MESSAGE)
        .exclude(review_status=Project.Review.APPROVED)
        .select_related("batch")
        .order_by("batch_id", "queued_at", "pk")
    )
    groups: dict[tuple[int, str], tuple[Batch, list[int]]] = {}
    for project in waiting:
        key = (project.batch_id, project.requested_provider)
        groups.setdefault(key, (project.batch, []))[1].append(project.pk)
    all_ids = [pk for _, ids in groups.values() for pk in ids]
    for (_, provider), (batch, ids) in groups.items():
        try:
            try:
                projects_enqueue(project_ids=ids, provider=provider, batch=batch)
            except ProviderNotConfigured:  # its key was removed since: the default provider writes it
                projects_enqueue(project_ids=ids, provider="", batch=batch)
        except CardsNotQueued:  # still away: they stay failed and retryable, nothing lost
            pass
    refused = set(
        Project.objects.filter(
            pk__in=all_ids, status=Project.Status.FAILED, error_message=QUEUE_DOWN_MESSAGE
        ).values_list("pk", flat=True)
    )
    return [pk for pk in all_ids if pk not in refused], len(refused)


TIMEOUT_MESSAGE = "Generowanie trwało zbyt długo i zostało przerwane. Spróbuj ponownie — karta wróci do kolejki."


def project_generate(*, project_id: int, deadline: float | None = None, message_id: str = "") -> bool:
    """Generate one card. Safe to run twice: only a queued project (or one whose claim
    belongs to this very message, redelivered) is claimed, and only the current claim
    may store its result."""
    claimable = Q(status=Project.Status.QUEUED)
    if message_id:
        # The broker redelivers a message only when the worker running it died: the
        # project is still "generating" under this message's claim, so take it over.
        claimable |= Q(status=Project.Status.GENERATING, claim_token__startswith=f"{message_id}:")
    token = f"{message_id or ''}:{secrets.token_hex(8)}"[-64:]
    claimed = Project.objects.filter(claimable, pk=project_id).update(
        status=Project.Status.GENERATING, started_at=timezone.now(), claim_token=token
    )
    if not claimed:
        return False
    project = Project.objects.select_related("batch").get(pk=project_id)
    card = project_card_input(project)
    chosen = project.requested_provider or default_provider_name()
    try:
        result = generate_with_failover(
            card,
            chain=failover_chain(chosen, configured_providers()),
            get_provider=get_provider,
            on_attempt=lambda attempt: attempt_record(project=project, attempt=attempt),
            deadline=deadline,
        )
    except DeadlinePassed:
        # The job's time ran out before any provider answered: nothing more is asked (each
        # request costs money), the project says it timed out and can be retried. An
        # answer to a request started in time is still stored below.
        project_mark(
            project_id=project_id, status=Project.Status.GENERATION_TIMEOUT, message=TIMEOUT_MESSAGE, token=token
        )
        return False
    draft = result.draft
    error = fallback_message(chosen=chosen, result=result)
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
            prompt_version=PROMPT_VERSION,
            generated_at=timezone.now(),
            error_message=error,
            # A freshly generated card has not been reviewed yet.
            review_status=Project.Review.DRAFT,
            approved_by=None,
            approved_at=None,
        )
    batch_refresh_status(batch=project.batch)
    logger.info(
        "project %s generated by %s (%d attempt(s))",
        project_id,
        draft.provider,
        len(result.attempts),
        extra={"project_id": project_id, "provider": draft.provider},
    )
    return True


def attempt_record(*, project: Project, attempt: Attempt, section_key: str = "") -> GenerationAttempt:
    """Store one provider request (or a skipped provider) of a project's generation."""
    generation_attempt_observe(provider=attempt.provider, outcome=str(attempt.outcome), latency_ms=attempt.latency_ms)
    return GenerationAttempt.objects.create(
        project=project,
        section_key=section_key,
        provider=attempt.provider,
        model_name=attempt.model[:100],
        prompt_version=PROMPT_VERSION,
        started_at=attempt.started,
        latency_ms=attempt.latency_ms,
        input_tokens=attempt.input_tokens,
        cached_tokens=attempt.cached_tokens,
        output_tokens=attempt.output_tokens,
        outcome=str(attempt.outcome),
        error_class=attempt.error_class[:100],
        error_message=attempt.error_message,
    )


def fallback_message(*, chosen: str, result: FailoverResult) -> str:
    """What the consultant reads when the card did not come from the provider they chose."""
    if not result.fell_back_from:
        return ""
    failed = ", ".join(PROVIDER_LABELS.get(name, name) for name in result.fell_back_from)
    if result.draft.provider == "offline":
        return (
            f"AI niedostępne ({failed}) — zapisano szkic offline bez udziału AI. "
            "Wygeneruj kartę ponownie, gdy dostawca znów działa."
        )
    return f"{failed} nie odpowiedział poprawnie — kartę przygotował {PROVIDER_LABELS.get(result.draft.provider)}."


def project_mark(*, project_id: int, status: str, message: str, message_id: str = "", token: str = "") -> None:
    """Record that a claimed generation ended without a card — only while the claim is
    still this job's (a job whose project was requeued must not mark the new claim)."""
    project = Project.objects.select_related("batch").get(pk=project_id)
    mine = Project.objects.filter(pk=project_id, status=Project.Status.GENERATING)
    if token:
        mine = mine.filter(claim_token=token)
    elif message_id:
        mine = mine.filter(claim_token__startswith=f"{message_id}:")
    mine.update(status=status, error_message=message)
    batch_refresh_status(batch=project.batch)


# --------------------------------------------------------------------------- section changes
#
# Every change of a section's text goes through section_write (a new SectionVersion, the
# version counter bumped). The public services that change sections are the four below:
# sections_apply_draft, section_update, section_revert and section_regenerate_run; what
# must follow any change of a card (e.g. a quality rescore) belongs at the end of each.


class CardLocked(Exception):
    """The card is approved: nothing in it may change until it is reopened."""

    def __init__(self, message: str = ""):
        super().__init__(
            message
            or "Karta jest zatwierdzona — edycja, przywracanie wersji i ponowne generowanie są zablokowane. "
            "Aby coś zmienić, kliknij „Otwórz ponownie”."
        )


class SectionBusy(Exception):
    """The section (or its whole card) is being generated right now."""


class HintsRefused(ValueError):
    """The hints look like an attempt to override the model's instructions."""


def card_check_unlocked(*, project: Project) -> None:
    """Raise CardLocked when the card is approved (read fresh: the page may be stale)."""
    review = Project.objects.filter(pk=project.pk).values_list("review_status", flat=True).first()
    if review == Project.Review.APPROVED:
        raise CardLocked()


_VERSION_ORIGIN = {
    Section.Origin.AI: SectionVersion.Origin.AI,
    Section.Origin.OFFLINE: SectionVersion.Origin.OFFLINE,
    Section.Origin.MANUAL: SectionVersion.Origin.MANUAL,
}


def section_write(
    *,
    section: Section,
    text: str,
    origin: str,
    author: User | None,
    provider: str | None = None,
    model_name: str | None = None,
    version_origin: str = "",
    reverted_from: SectionVersion | None = None,
    hints: str = "",
) -> SectionVersion:
    """Store a new text of an existing section and record it as its next version (call inside
    a transaction). A card's first sections are created by sections_apply_draft.

    Only the text fields are saved: the regeneration state is the worker's, and a stale
    instance must not write it back.
    """
    current = Section.objects.select_for_update().values_list("version", flat=True).get(pk=section.pk)
    section.version = current + 1
    section.text, section.origin, section.updated_by = text, origin, author
    fields = ["text", "origin", "updated_by", "updated_at", "version"]
    if provider is not None:
        section.provider = provider
        fields.append("provider")
    if model_name is not None:
        section.model_name = model_name
        fields.append("model_name")
    section.save(update_fields=fields)
    version = _version_of(
        section, author=author, version_origin=version_origin, reverted_from=reverted_from, hints=hints
    )
    version.save()
    return version


def _version_of(
    section: Section,
    *,
    author: User | None,
    version_origin: str = "",
    reverted_from: SectionVersion | None = None,
    hints: str = "",
) -> SectionVersion:
    """The (unsaved) version row recording `section`'s current text."""
    return SectionVersion(
        section=section,
        number=section.version,
        text=section.text,
        origin=version_origin or _VERSION_ORIGIN[section.origin],
        author=author,
        provider=section.provider,
        model_name=section.model_name,
        reverted_from=reverted_from,
        hints=hints,
    )


def sections_apply_draft(*, project: Project, draft: CardDraft) -> None:
    """Store a provider's sections; a consultant's manual edit is never overwritten."""
    origin = Section.Origin.OFFLINE if draft.provider == "offline" else Section.Origin.AI
    with transaction.atomic():
        existing = {s.key: s for s in Section.objects.select_for_update().filter(project=project)}
        new_sections = []
        for position, key in enumerate(SECTION_KEYS):
            section = existing.get(key)
            if section is not None and section.origin == Section.Origin.MANUAL:
                continue  # a consultant's text is never overwritten
            written = {
                "text": text_to_html(draft.sections[key]),
                "origin": origin,
                "provider": draft.provider,
                "model_name": draft.model,
            }
            if section is None:
                new_sections.append(Section(project=project, key=key, position=position, version=1, **written))
            else:
                section_write(section=section, author=None, **written)
        if new_sections:
            # A card's first text: its sections and their first versions in two INSERTs,
            # not sixteen (the store step is most of a worker's CPU per card).
            Section.objects.bulk_create(new_sections)
            SectionVersion.objects.bulk_create(_version_of(section, author=None) for section in new_sections)
    project_rescore(project=project)


class SectionConflict(Exception):
    """The section changed since the editor was opened (another tab, a regeneration)."""

    def __str__(self) -> str:
        return (
            "Ta sekcja została w międzyczasie zmieniona (w innej karcie przeglądarki albo przez ponowne "
            "generowanie). Twój tekst jest nadal w edytorze: kliknij „Zapisz mimo to”, aby go zapisać "
            "(poprzednia treść zostanie w historii sekcji), albo „Anuluj”, aby zobaczyć obecną wersję."
        )


def section_update(*, section: Section, text: str, author: User, base_version: int | None = None) -> Section:
    """Save a consultant's edit of one section (sanitized HTML); an approved card is refused,
    and so is a save over a version newer than `base_version` (the one the editor showed).
    Saving a manual section's text unchanged makes no new version."""
    text = sanitize_html(text)
    with transaction.atomic():
        card_check_unlocked(project=section.project)
        current = Section.objects.select_for_update().values("version", "text", "origin").get(pk=section.pk)
        if base_version is not None and current["version"] != base_version:
            raise SectionConflict()
        if current["text"] == text and current["origin"] == Section.Origin.MANUAL:
            return section
        written = section_write(section=section, text=text, origin=Section.Origin.MANUAL, author=author)
        audit_record(
            actor=author,
            action=AuditEvent.Action.EDIT_SECTION,
            project=section.project,
            section_key=section.key,
            version=written.number,
            overwrite=base_version is None,
        )
    project_rescore(project=section.project)
    return section


def section_revert(*, section: Section, version: SectionVersion, author: User) -> SectionVersion:
    """Bring back an earlier text as a new version; the section becomes a manual one, so a
    regeneration of the card keeps it."""
    if version.section_id != section.pk:
        raise ValueError("The version belongs to another section.")
    with transaction.atomic():
        card_check_unlocked(project=section.project)
        written = section_write(
            section=section,
            text=version.text,
            origin=Section.Origin.MANUAL,
            author=author,
            version_origin=SectionVersion.Origin.REVERT,
            reverted_from=version,
        )
        audit_record(
            actor=author,
            action=AuditEvent.Action.REVERT_SECTION,
            project=section.project,
            section_key=section.key,
            reverted_to=version.number,
            version=written.number,
        )
    project_rescore(project=section.project)
    return written


def section_model_choices() -> list[tuple[str, str]]:
    """The models a section regeneration may ask for: the configured ones, and always offline."""
    configured = configured_providers()
    labels = {"claude": "Claude (Anthropic)", "gpt4": "GPT-4 (OpenAI)"}
    choices = [(model, labels[model]) for model, provider in MODEL_CHOICES.items() if provider in configured]
    return choices + [(OFFLINE, str(PROVIDER_LABELS[OFFLINE]))]


def section_default_model() -> str:
    default = default_provider_name()
    return next((model for model, provider in MODEL_CHOICES.items() if provider == default), OFFLINE)


def section_chain(provider: str) -> list[str]:
    """The providers a section regeneration tries: the chosen one, then the other AI ones.

    Unlike a whole card it does not end with the offline draft: the consultant asked a
    model to improve this text, and a template in its place would be a loss, not a fallback.
    """
    if provider == OFFLINE:
        return [OFFLINE]
    return [name for name in failover_chain(provider, configured_providers()) if name != OFFLINE]


def _regen_stale_before() -> datetime.datetime:
    # A regeneration older than a job may run was lost with its worker: it may be asked again.
    return timezone.now() - datetime.timedelta(seconds=settings.RNDCARDS_JOB_TIME_LIMIT + 60)


def section_regenerate(*, section: Section, hints: str, model: str, author: User) -> bool:
    """Queue a regeneration of one section with the consultant's hints; False when one is already
    queued or running. Raises CardLocked, SectionBusy, HintsRefused, ProviderNotConfigured, or
    CardsNotQueued when the broker refused the message (the section is then marked failed)."""
    from cards.tasks import enqueue_section_regeneration

    hints = clean_text(hints).strip()
    if len(hints) > hints_filter.MAX_HINTS_CHARS:
        raise HintsRefused(
            f"Uwagi mogą mieć najwyżej {hints_filter.MAX_HINTS_CHARS} znaków, a mają {len(hints)}. Skróć je."
        )
    if label := hints_filter.injection_phrase(hints):
        raise HintsRefused(hints_filter.refusal_message(label))
    if model != OFFLINE and model not in MODEL_CHOICES:
        raise ProviderNotConfigured(f"Nieznany model „{model}”.")
    provider = MODEL_CHOICES.get(model, OFFLINE)
    require_configured(provider)
    token = secrets.token_hex(16)
    with transaction.atomic():
        card_check_unlocked(project=section.project)
        if Project.objects.filter(pk=section.project_id, status__in=Project.IN_PROGRESS).exists():
            raise SectionBusy("Cała karta jest właśnie generowana — poczekaj, aż się zakończy, i spróbuj ponownie.")
        free = Q(regen_state__in=[Section.RegenState.NONE, Section.RegenState.FAILED]) | Q(
            regen_requested_at__lt=_regen_stale_before()
        )
        claimed = Section.objects.filter(free, pk=section.pk).update(
            regen_state=Section.RegenState.QUEUED,
            regen_token=token,
            regen_provider=provider,
            regen_hints=hints,
            regen_base_version=F("version"),
            regen_requested_by=author,
            regen_requested_at=timezone.now(),
            regen_message="",
        )
        audit_record(
            actor=author,
            action=AuditEvent.Action.REGENERATE_SECTION,
            project=section.project,
            section_key=section.key,
            model=model,
            # Whether there were hints, and how long; never their text.
            hints_chars=len(hints),
            queued=bool(claimed),
        )
        if not claimed:
            return False

        unsent: list[Exception] = []

        def send() -> None:
            from rndcards import worker

            try:
                worker.ensure_started()
                enqueue_section_regeneration(section.pk, token)
            except Exception as exc:  # whatever the broker's client raises when it is away
                # Not left "queued" with no message (it would wait for staleness): failed, retryable now.
                logger.exception("could not queue the regeneration of section %s", section.pk)
                section_regenerate_mark(section_id=section.pk, token=token, message=QUEUE_DOWN_SECTION_MESSAGE)
                unsent.append(exc)

        transaction.on_commit(send)
    section.refresh_from_db()
    if unsent:
        raise CardsNotQueued(QUEUE_DOWN_SECTION_MESSAGE, queued=0)
    return True


_OUTCOME_PL = {
    "rate_limited": "limit zapytań u dostawcy",
    "retryable_error": "chwilowy błąd dostawcy",
    "permanent_error": "błąd, którego ponowienie nie pomoże",
    "invalid_answer": "niepoprawna odpowiedź modelu",
    "breaker_open": "dostawca tymczasowo wyłączony po serii błędów",
}


def attempts_summary(attempts) -> str:
    """Each provider tried, in order, with why it gave nothing — in Polish, for the consultant
    (the SDKs' English messages stay in the GenerationAttempt records for admins)."""
    last: dict[str, Attempt] = {}
    for attempt in attempts:
        last.pop(attempt.provider, None)
        last[attempt.provider] = attempt
    order = list(dict.fromkeys(a.provider for a in attempts))
    return "; ".join(
        f"{PROVIDER_LABELS.get(name, name)}: {_OUTCOME_PL.get(str(last[name].outcome), 'błąd')}" for name in order
    )


SECTION_FAILED_MESSAGE = (
    "Nie udało się wygenerować sekcji ({reason}). Treść sekcji pozostała bez zmian — "
    "spróbuj ponownie za chwilę albo wybierz inny model."
)
SECTION_CHANGED_MESSAGE = (
    "Sekcja została zmieniona w trakcie generowania, więc nowej treści nie zapisano, aby nie nadpisać "
    "tych zmian. Jeśli nadal chcesz nową wersję, wygeneruj sekcję ponownie."
)
SECTION_LOCKED_MESSAGE = "Karta została zatwierdzona w trakcie generowania — nowej treści sekcji nie zapisano."
SECTION_TIMEOUT_MESSAGE = "Generowanie sekcji trwało zbyt długo i zostało przerwane. Treść pozostała bez zmian."


def section_regenerate_mark(*, section_id: int, token: str, message: str) -> bool:
    """End a claimed regeneration without a new text (the text stays as it was)."""
    return bool(
        Section.objects.filter(pk=section_id, regen_token=token, regen_state__in=Section.REGEN_ACTIVE).update(
            regen_state=Section.RegenState.FAILED, regen_message=message, regen_token=""
        )
    )


def section_regenerate_run(*, section_id: int, token: str, deadline: float | None = None) -> bool:
    """Run a queued regeneration of one section. Idempotent: only the job holding the
    section's current token claims it, and its result is stored only if the section is
    still at the version it had when the regeneration was asked for."""
    claimed = Section.objects.filter(pk=section_id, regen_token=token, regen_state=Section.RegenState.QUEUED).update(
        regen_state=Section.RegenState.RUNNING
    )
    if not claimed:
        return False
    section = Section.objects.select_related("project__batch").get(pk=section_id)
    project = section.project
    card = project_card_input(project)
    texts = {s.key: html_to_text(s.text) for s in project.sections.all()}
    hints = section.regen_hints

    try:
        result = generate_with_failover(
            card,
            chain=section_chain(section.regen_provider or OFFLINE),
            get_provider=get_provider,
            on_attempt=lambda attempt: attempt_record(project=project, attempt=attempt, section_key=section.key),
            ask=lambda provider: provider.generate_section(card, key=section.key, sections=texts, hints=hints),
            deadline=deadline,
        )
    except DeadlinePassed:
        section_regenerate_mark(section_id=section_id, token=token, message=SECTION_TIMEOUT_MESSAGE)
        return False
    except FailoverExhausted as exc:
        reasons = attempts_summary(exc.attempts)
        section_regenerate_mark(
            section_id=section_id,
            token=token,
            message=SECTION_FAILED_MESSAGE.format(reason=reasons or "brak odpowiedzi"),
        )
        return False
    draft = result.draft
    origin = Section.Origin.OFFLINE if draft.provider == OFFLINE else Section.Origin.AI
    with transaction.atomic():
        current = Section.objects.select_for_update().filter(
            pk=section_id, regen_token=token, regen_state=Section.RegenState.RUNNING
        )
        current = current.first()  # no select_related: PostgreSQL cannot lock a nullable outer join
        if current is None:
            logger.info("late result for section %s discarded: its claim was taken over", section_id)
            return False
        if current.version != current.regen_base_version:
            section_regenerate_mark(section_id=section_id, token=token, message=SECTION_CHANGED_MESSAGE)
            return False
        if Project.objects.filter(pk=project.pk, review_status=Project.Review.APPROVED).exists():
            section_regenerate_mark(section_id=section_id, token=token, message=SECTION_LOCKED_MESSAGE)
            return False
        section_write(
            section=current,
            text=text_to_html(draft.text),
            origin=origin,
            author=current.regen_requested_by,
            provider=draft.provider,
            model_name=draft.model,
            hints=hints,
        )
        note = ""
        if result.fell_back_from:
            failed = ", ".join(str(PROVIDER_LABELS.get(name, name)) for name in result.fell_back_from)
            note = f"{failed} nie odpowiedział poprawnie — sekcję napisał {PROVIDER_LABELS.get(draft.provider)}."
        Section.objects.filter(pk=section_id).update(
            regen_state=Section.RegenState.NONE, regen_token="", regen_message=note
        )
    project_rescore(project=project)
    return True


def section_versions(*, section: Section) -> list[SectionVersion]:
    """The section's versions, newest first, with their authors."""
    return list(section.versions.select_related("author", "reverted_from").order_by("-number"))


def section_diff(*, version: SectionVersion, section: Section):
    """A word-level diff from `version` to the section's current text (plain text, escaped HTML)."""
    from cards.diff import word_diff

    return word_diff(html_to_text(version.text), html_to_text(section.text))


# --------------------------------------------------------------------------- card review


class ReviewRefused(Exception):
    """The review action does not apply to the card as it is now."""


REVIEW_ACTIONS = {
    # action: (states it applies from, state it leads to)
    "submit": ((Project.Review.DRAFT,), Project.Review.IN_REVIEW),
    "approve": ((Project.Review.IN_REVIEW,), Project.Review.APPROVED),
    "reopen": ((Project.Review.IN_REVIEW, Project.Review.APPROVED), Project.Review.DRAFT),
}


def project_review(*, project: Project, action: str, user: User) -> Project:
    """Move the card through draft → in review → approved (and back to draft when reopened)."""
    if action not in REVIEW_ACTIONS:
        raise ReviewRefused("Nieznana czynność przeglądu. Odśwież stronę i spróbuj ponownie.")
    sources, target = REVIEW_ACTIONS[action]
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        if locked.review_status not in sources:
            raise ReviewRefused(
                f"Karta ma status „{locked.get_review_status_display()}” — tej czynności nie można teraz wykonać. "
                "Odśwież stronę."
            )
        if action in ("submit", "approve"):
            if locked.is_in_progress or not locked.sections.exists():
                raise ReviewRefused("Karta nie jest jeszcze wygenerowana — poczekaj na zakończenie generowania.")
            if locked.sections.filter(regen_state__in=Section.REGEN_ACTIVE).exists():
                raise ReviewRefused("Trwa ponowne generowanie sekcji — poczekaj, aż się zakończy.")
        locked.review_status = target
        if target == Project.Review.APPROVED:
            locked.approved_by, locked.approved_at = user, timezone.now()
        else:
            locked.approved_by, locked.approved_at = None, None
        locked.save(update_fields=["review_status", "approved_by", "approved_at", "updated_at"])
        audit_record(
            actor=user,
            action=AuditEvent.Action.REVIEW,
            project=project,
            review_action=action,
            review_status=target,
        )
    project.review_status, project.approved_by, project.approved_at = (
        locked.review_status,
        locked.approved_by,
        locked.approved_at,
    )
    return project


def project_rescore(*, project: Project) -> QualityReport | None:
    """Recompute the card's quality score and checklist from its stored sections (no model call).

    Call it after every change of a section's text. A project without sections has no score.
    """
    texts = dict(Section.objects.filter(project=project).values_list("key", "text"))
    if not texts:
        report, score, checks = None, None, []
    else:
        report = card_quality(project_card_input(project), texts)
        score, checks = report.score, report.as_list()
    # update(), not save(): the caller's instance may hold a status read before the claim.
    Project.objects.filter(pk=project.pk).update(quality_score=score, quality_checks=checks)
    project.quality_score, project.quality_checks = score, checks
    return report


def projects_rescore(*, batch: Batch | None = None) -> int:
    """Rescore every card that has sections (of one batch, or all): after a change of the rules."""
    projects = Project.objects.filter(sections__isnull=False).distinct()
    if batch is not None:
        projects = projects.filter(batch=batch)
    count = 0
    for project in projects.iterator():
        project_rescore(project=project)
        count += 1
    return count


# --------------------------------------------------------------------------- similar cards


@functools.cache
def offline_template_shingles() -> frozenset:
    """The offline draft's fixed text: what two drafts of unrelated made-up projects share.

    Offline drafts of one batch all carry these sentences; counting them would flag every
    pair of offline drafts as copied. The rest of a draft (the input's own description,
    goal, person and dates) is compared as usual, so copied input is still found.
    """
    from cards.providers.offline import OfflineProvider

    def draft(name: str, start: datetime.date, end: datetime.date) -> set:
        card = CardInput(
            name=name,
            description=f"{name} opis alfa beta gamma delta",
            goal=f"{name} cel epsilon",
            start_date=start,
            end_date=end,
            responsible_person=f"{name} Osoba",
        )
        texts = OfflineProvider().generate_card(card).sections.values()
        return set().union(*(similarity.shingles(t) for t in texts))

    return frozenset(
        draft("Kwazar", datetime.date(2021, 3, 4), datetime.date(2022, 5, 6))
        & draft("Pulsar", datetime.date(2023, 7, 8), datetime.date(2025, 9, 10))
    )


def similarity_scope(*, batch: Batch):
    """Projects whose cards are compared with the batch's: the batch itself and, when it names
    a client, the owner's other batches of the same client."""
    scope = Q(batch=batch)
    if batch.client_name.strip():
        scope |= Q(batch__owner_id=batch.owner_id, batch__client_name__iexact=batch.client_name.strip())
    return (
        Project.objects.filter(scope)
        .order_by("batch__uploaded_at", "batch_id", "row_number")  # in a pair, the older card comes first
        .select_related("batch")
        # What the similar-cards lists show; the inputs and checklists are not needed here.
        .only("pk", "name", "row_number", "batch_id", "batch__name", "batch__uploaded_at")
    )


# Bump when cards.similarity (or what is fed to it) changes: cached pairs of the old code
# must not be read back.
SIMILARITY_CACHE_VERSION = 1
SIMILARITY_CACHE_SECONDS = 24 * 3600


def _similar_pairs(
    *, batch: Batch, involving: set[int] | None, viewer: User | None = None
) -> tuple[dict[int, Project], list[similarity.SimilarPair]]:
    """The scope's projects and the very similar pairs with a card in `involving` (some of
    the batch's projects; None: any of them).

    Comparing reads every section text of the scope; batch and project pages are viewed far
    more often than cards change, so the pairs of the batch are kept in the cache under a
    fingerprint of the scope's texts: its project ids and, over its sections, their number,
    the sum of their versions (every text change bumps one, cards.services.section_write) and
    the latest change. Any edit, regeneration, new or deleted card gives a new key; without
    the cache (Redis away) the pairs are computed as before.
    """
    scope = similarity_scope(batch=batch)
    projects = {p.pk: p for p in scope}
    _mark_viewable(projects.values(), batch=batch, viewer=viewer)
    sections = Section.objects.filter(project__in=list(projects))
    state = sections.aggregate(n=Count("pk"), versions=Sum("version"), changed=Max("updated_at"))
    fingerprint = repr((SIMILARITY_CACHE_VERSION, batch.pk, tuple(projects), tuple(sorted(state.items()))))
    key = "similar-pairs:" + hashlib.sha256(fingerprint.encode()).hexdigest()

    def compare(among: set[int]) -> list[similarity.SimilarPair]:
        # Plain (project, key, text) rows instead of model instances: a batch page reads every
        # section of its scope, and building 160+ Section objects was most of its time.
        texts: dict[int, dict[str, str]] = {}
        for project_id, section_key, text in sections.values_list("project_id", "key", "text"):
            texts.setdefault(project_id, {})[section_key] = plain(text)
        cards = [similarity.CardText(id=pk, sections=texts[pk]) for pk in projects if pk in texts]
        # The offline template's fixed text is set aside; text standard across the scope's cards
        # is discounted per section by cards.similarity itself (see there why only per section).
        return similarity.similar_pairs(cards, ignore=offline_template_shingles(), involving=among)

    # A project page (a section just saved, say) whose batch's pairs are not known for these
    # texts yet needs only its own card's: 19 comparisons instead of 190 in a batch of 20,
    # kept under a key of their own. The batch page computes and keeps the whole set.
    own_key = None if involving is None else f"{key}:{','.join(map(str, sorted(involving)))}"
    # A hung Redis costs the cache's timeout on every call: while it is known to be down the
    # pairs are computed as without a cache. Otherwise one read for both keys.
    use_cache = not shared_redis_down()
    found = cache.get_many([k for k in (key, own_key) if k]) if use_cache else {}
    if key in found:
        pairs = found[key]
        if involving is None:
            return projects, pairs
        return projects, [p for p in pairs if p.a in involving or p.b in involving]
    if own_key is not None:
        if own_key not in found:
            found[own_key] = compare(involving)
            if use_cache:
                cache.set(own_key, found[own_key], SIMILARITY_CACHE_SECONDS)
        return projects, found[own_key]
    pairs = compare({pk for pk, p in projects.items() if p.batch_id == batch.pk})
    if use_cache:
        cache.set(key, pairs, SIMILARITY_CACHE_SECONDS)
    return projects, pairs


def _mark_viewable(projects, *, batch: Batch, viewer: User | None) -> None:
    """Set `viewable` on each project: the comparison is the owner's (all their batches of the
    client), but a colleague the batch is shared with must not learn the names of the owner's
    other batches and cards that were not shared with them — those show without name or link."""
    from batches.selectors import batches_for_user

    if viewer is None or viewer.pk == batch.owner_id:
        for project in projects:
            project.viewable = True
        return
    projects = list(projects)
    ids = {p.batch_id for p in projects}
    visible = set(batches_for_user(user=viewer).filter(pk__in=ids).values_list("pk", flat=True))
    for project in projects:
        project.viewable = project.batch_id in visible


def _section_headings(pair: similarity.SimilarPair) -> list[str]:
    """The alike sections as shown: "Opis projektu 92%", most alike first."""
    return [f"{SECTION_HEADINGS[key]} {percent}%" for key, percent in pair.section_percents if key in SECTION_HEADINGS]


def batch_similar_pairs(*, batch: Batch, viewer: User | None = None) -> list[dict]:
    """Very similar card pairs with at least one card in the batch: {a, b, percent, sections}.
    With a viewer, cards of batches they may not see are marked `viewable = False`."""
    projects, pairs = _similar_pairs(batch=batch, involving=None, viewer=viewer)
    return [
        {"a": projects[p.a], "b": projects[p.b], "percent": p.percent, "sections": _section_headings(p)} for p in pairs
    ]


def project_similar(*, project: Project, viewer: User | None = None) -> list[dict]:
    """Cards very similar to this one (same batch or the same client's): {project, percent, sections}."""
    projects, pairs = _similar_pairs(batch=project.batch, involving={project.pk}, viewer=viewer)
    return [
        {
            "project": projects[p.b if p.a == project.pk else p.a],
            "percent": p.percent,
            "sections": _section_headings(p),
        }
        for p in pairs
    ]


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
        sections=tuple((s.heading, s.text, s.key) for s in sections),
        # What the sections are now, not how the card was first made: sections regenerated
        # by AI or rewritten by hand are no longer a draft without AI.
        note=OFFLINE_NOTE if any(s.origin == Section.Origin.OFFLINE for s in sections) else "",
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
    return render_batch(BatchDoc(name=batch.name, created=timezone.localdate(), cards=cards, client=batch.client_name))


def batch_export_xlsx(*, batch: Batch) -> bytes:
    """The batch as a spreadsheet: a row per project (also those without a card yet), a column per section."""
    from cards.export.docx import BatchDoc
    from cards.export.xlsx import render_batch

    projects = batch.projects.prefetch_related("sections").order_by("row_number")
    cards = tuple(card_document(p) for p in projects)
    return render_batch(BatchDoc(name=batch.name, created=timezone.localdate(), cards=cards))


def project_export_docx(*, project: Project) -> bytes | None:
    """One card as a Word document, or None when it has no sections yet."""
    from cards.export.docx import render_card

    if not project.sections.all():
        return None
    return render_card(card_document(project), batch_name=project.batch.name)


def batch_progress(*, batch: Batch) -> dict[str, int]:
    """Counts of the batch's projects by status, plus 'total' and 'done'."""
    return projects_progress(projects=batch.projects.all())


def projects_progress(*, projects) -> dict[str, int]:
    """Counts of these projects (a queryset) by status, plus 'total' and 'done'."""
    counts = {s: 0 for s in Project.Status.values}
    for row in projects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts[s] for s in Project.Status.values)
    counts["done"] = (
        counts["total"]
        - counts[Project.Status.QUEUED]
        - counts[Project.Status.GENERATING]
        - counts[Project.Status.PENDING]
    )
    return counts


def fallback_counts(projects) -> dict[str, int]:
    """Generated cards that did not come from the chosen provider: how many are offline
    drafts (no AI at all) and how many came from the other AI provider."""
    counts = {"offline": 0, "other_provider": 0}
    for project in projects:
        if project.status != Project.Status.GENERATED or not project.error_message:
            continue
        counts["offline" if project.provider == "offline" else "other_provider"] += 1
    return counts


def batch_usage(*, batch: Batch) -> dict[str, float]:
    """Tokens the batch's generations used and their estimated cost in USD (AI_PRICES)."""
    usage = {"input_tokens": 0, "cached_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    rows = (
        GenerationAttempt.objects.filter(project__batch=batch)
        .values("provider")
        .annotate(i=Sum("input_tokens"), c=Sum("cached_tokens"), o=Sum("output_tokens"))
    )
    for row in rows:
        price_in, price_cached, price_out = settings.AI_PRICES.get(row["provider"], (0.0, 0.0, 0.0))
        usage["input_tokens"] += row["i"] or 0
        usage["cached_tokens"] += row["c"] or 0
        usage["output_tokens"] += row["o"] or 0
        usage["cost_usd"] += (
            (row["i"] or 0) * price_in + (row["c"] or 0) * price_cached + (row["o"] or 0) * price_out
        ) / 1e6
    return usage
