"""The card of a project: its eight sections and where each text came from."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from batches.models import Project
from cards.sections import SECTION_HEADINGS, SECTION_KEYS


def user_display_name(user) -> str:
    """How a person is named on the page: full name, else login, else a dash (user deleted)."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


class Section(models.Model):
    Key = models.TextChoices("Key", [(key.upper(), (key, SECTION_HEADINGS[key])) for key in SECTION_KEYS])

    class Origin(models.TextChoices):
        AI = "ai", _("AI")
        OFFLINE = "offline", _("szkic offline (bez AI)")
        MANUAL = "manual", _("edycja ręczna")

    class RegenState(models.TextChoices):
        NONE = "", _("brak")
        QUEUED = "queued", _("w kolejce")
        RUNNING = "running", _("w trakcie")
        FAILED = "failed", _("nieudane")

    REGEN_ACTIVE = (RegenState.QUEUED, RegenState.RUNNING)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sections")
    key = models.CharField(_("sekcja"), max_length=32, choices=Key.choices)
    position = models.PositiveSmallIntegerField(_("kolejność"))
    # Sanitized HTML (cards.sanitize): what the editor shows and the export reads.
    text = models.TextField(_("treść"), blank=True)
    origin = models.CharField(_("pochodzenie"), max_length=10, choices=Origin.choices)
    provider = models.CharField(_("dostawca"), max_length=20, blank=True)
    model_name = models.CharField(_("model"), max_length=100, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(_("zmieniono"), auto_now=True)
    # Bumped by every change of the text (cards.services.section_write): a regeneration
    # stores its result only if the section is still at the version it was asked for.
    version = models.PositiveIntegerField(_("wersja"), default=1)

    # The pending regeneration of this one section (cards.services.section_regenerate).
    regen_state = models.CharField(
        _("ponowne generowanie"), max_length=10, choices=RegenState.choices, default=RegenState.NONE, blank=True
    )
    regen_token = models.CharField(max_length=64, blank=True, editable=False)
    regen_provider = models.CharField(_("dostawca ponownego generowania"), max_length=20, blank=True)
    regen_hints = models.TextField(_("uwagi konsultanta"), blank=True)
    regen_base_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    regen_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    regen_requested_at = models.DateTimeField(null=True, blank=True)
    regen_message = models.TextField(_("komunikat ponownego generowania"), blank=True)

    class Meta:
        ordering = ["project", "position"]
        verbose_name = _("sekcja karty")
        verbose_name_plural = _("sekcje kart")
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="section_unique_key")]

    def __str__(self) -> str:
        return f"{self.project} — {self.heading}"

    @property
    def heading(self) -> str:
        return SECTION_HEADINGS[self.key]

    @property
    def author_name(self) -> str:
        return user_display_name(self.updated_by)

    @property
    def is_regenerating(self) -> bool:
        return self.regen_state in self.REGEN_ACTIVE


class SectionVersion(models.Model):
    """One state of a section's text: every change (draft, edit, regeneration, revert) adds one."""

    class Origin(models.TextChoices):
        AI = "ai", _("AI")
        OFFLINE = "offline", _("szkic offline (bez AI)")
        MANUAL = "manual", _("edycja ręczna")
        REVERT = "revert", _("przywrócenie wersji")

    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("numer"))
    # Sanitized HTML, as Section.text was at that moment.
    text = models.TextField(_("treść"), blank=True)
    origin = models.CharField(_("pochodzenie"), max_length=10, choices=Origin.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    provider = models.CharField(_("dostawca"), max_length=20, blank=True)
    model_name = models.CharField(_("model"), max_length=100, blank=True)
    # For a revert: the version whose text came back.
    reverted_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    hints = models.TextField(_("uwagi konsultanta"), blank=True)
    created_at = models.DateTimeField(_("utworzono"), default=timezone.now)

    class Meta:
        ordering = ["section", "-number"]
        verbose_name = _("wersja sekcji")
        verbose_name_plural = _("wersje sekcji")
        constraints = [models.UniqueConstraint(fields=["section", "number"], name="section_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.section} — v{self.number}"

    @property
    def author_name(self) -> str:
        return user_display_name(self.author)


class GenerationAttempt(models.Model):
    """One request to a model provider (retries and skipped providers included): the record
    admins read to see why a card failed and what the batch cost."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("sukces")
        RETRYABLE_ERROR = "retryable_error", _("błąd przejściowy")
        PERMANENT_ERROR = "permanent_error", _("błąd trwały")
        INVALID_ANSWER = "invalid_answer", _("niepoprawna odpowiedź")
        BREAKER_OPEN = "breaker_open", _("pominięty (bezpiecznik otwarty)")
        RATE_LIMITED = "rate_limited", _("limit zapytań")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="attempts")
    # The section a single-section regeneration asked for; blank for a whole card.
    section_key = models.CharField(_("sekcja"), max_length=32, blank=True)
    provider = models.CharField(_("dostawca"), max_length=20)
    model_name = models.CharField(_("model"), max_length=100, blank=True)
    prompt_version = models.CharField(_("wersja promptu"), max_length=40, blank=True)
    started_at = models.DateTimeField(_("rozpoczęto"))
    latency_ms = models.PositiveIntegerField(_("czas [ms]"), default=0)
    input_tokens = models.PositiveIntegerField(_("tokeny wejściowe"), default=0)
    cached_tokens = models.PositiveIntegerField(_("tokeny z pamięci podręcznej"), default=0)
    output_tokens = models.PositiveIntegerField(_("tokeny wyjściowe"), default=0)
    outcome = models.CharField(_("wynik"), max_length=20, choices=Outcome.choices)
    error_class = models.CharField(_("klasa błędu"), max_length=100, blank=True)
    error_message = models.TextField(_("komunikat błędu"), blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("wywołanie AI")
        verbose_name_plural = _("wywołania AI")
        indexes = [models.Index(fields=["project", "-started_at"]), models.Index(fields=["outcome"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.get_outcome_display()} ({self.started_at:%Y-%m-%d %H:%M:%S})"
