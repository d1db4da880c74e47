"""The card of a project: its eight sections and where each text came from."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from batches.models import Project
from cards.sections import SECTION_HEADINGS, SECTION_KEYS


class Section(models.Model):
    Key = models.TextChoices("Key", [(key.upper(), (key, SECTION_HEADINGS[key])) for key in SECTION_KEYS])

    class Origin(models.TextChoices):
        AI = "ai", _("AI")
        OFFLINE = "offline", _("szkic offline (bez AI)")
        MANUAL = "manual", _("edycja ręczna")

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
