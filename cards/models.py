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
