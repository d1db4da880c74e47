"""A batch is one uploaded workbook; a project is one of its rows."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def batch_upload_path(batch: "Batch", filename: str) -> str:
    # The user's file name is kept in original_filename; the stored name carries no
    # user text, so nothing odd reaches the file system or S3 keys. Only the extension is
    # taken from ``filename`` (which batch_import generates), and only one of these two.
    suffix = ".xlsm" if str(filename).lower().endswith(".xlsm") else ".xlsx"
    return f"uploads/{batch.owner_id}/{timezone.now():%Y/%m}/{batch.token}{suffix}"


class Batch(models.Model):
    class Status(models.TextChoices):
        IMPORTED = "imported", _("zaimportowana")
        GENERATING = "generating", _("w trakcie generowania")
        GENERATED = "generated", _("wygenerowana")
        NEEDS_ATTENTION = "needs_attention", _("wymaga uwagi")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(_("nazwa"), max_length=255)
    token = models.CharField(max_length=32, unique=True, editable=False)
    source_file = models.FileField(_("plik źródłowy"), upload_to=batch_upload_path, blank=True)
    original_filename = models.CharField(_("nazwa pliku"), max_length=255, blank=True)
    # The consultancy's client the workbook is about: cards are compared for copied text
    # across the owner's batches of the same client (cards.similarity).
    client_name = models.CharField(
        _("klient"),
        max_length=255,
        blank=True,
        help_text=_("Z kolumny „Klient” lub „Nazwa klienta” arkusza; puste = partia porównywana tylko sama ze sobą."),
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.IMPORTED)
    uploaded_at = models.DateTimeField(_("przesłano"), auto_now_add=True)
    updated_at = models.DateTimeField(_("zmieniono"), auto_now=True)
    # ---- "batch finished" e-mail (batches.services.batch_notify_finished) ----
    # Every "generate all" that queues cards starts a run; the owner is told once per run,
    # when its last card is final. notified_run is claimed by a conditional update, so
    # workers finishing together (or a redelivered job) send one e-mail. db_default keeps
    # the migration backward compatible: code that does not know the columns still inserts.
    generation_run = models.PositiveIntegerField(_("przebieg generowania"), default=0, db_default=0, editable=False)
    notified_run = models.PositiveIntegerField(_("powiadomiono o przebiegu"), default=0, db_default=0, editable=False)
    notified_at = models.DateTimeField(_("wysłano powiadomienie"), null=True, blank=True, editable=False)
    notification_error = models.TextField(
        _("błąd powiadomienia"), blank=True, default="", db_default="", editable=False
    )

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        verbose_name = _("partia")
        verbose_name_plural = _("partie")
        indexes = [models.Index(fields=["owner", "-uploaded_at"]), models.Index(fields=["owner", "client_name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("batch_detail", args=[self.pk])


class Project(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("oczekuje")
        QUEUED = "queued", _("w kolejce")
        GENERATING = "generating", _("generowanie")
        GENERATED = "generated", _("gotowa")
        FAILED = "failed", _("błąd")
        GENERATION_TIMEOUT = "generation_timeout", _("przekroczony czas")

    class Review(models.TextChoices):
        DRAFT = "draft", _("szkic")
        IN_REVIEW = "in_review", _("w przeglądzie")
        APPROVED = "approved", _("zatwierdzona")

    # Statuses from which "generate" may (re)start the work.
    STARTABLE = (Status.PENDING, Status.GENERATED, Status.FAILED, Status.GENERATION_TIMEOUT)
    IN_PROGRESS = (Status.QUEUED, Status.GENERATING)

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="projects")
    row_number = models.PositiveIntegerField(_("wiersz w arkuszu"))
    name = models.CharField(_("nazwa projektu"), max_length=255)
    description = models.TextField(_("opis"))
    start_date = models.DateField(_("data rozpoczęcia"))
    end_date = models.DateField(_("data zakończenia"))
    goal = models.TextField(_("cel projektu"))
    responsible_person = models.CharField(_("osoba odpowiedzialna"), max_length=255)
    # Extra spreadsheet columns in sheet order: [[header, value], ...].
    extra = models.JSONField(_("dodatkowe kolumny"), default=list, blank=True)

    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    requested_provider = models.CharField(_("wybrany dostawca"), max_length=20, blank=True)
    provider = models.CharField(_("dostawca"), max_length=20, blank=True)
    model_name = models.CharField(_("model"), max_length=100, blank=True)
    prompt_version = models.CharField(_("wersja promptu"), max_length=40, blank=True)
    error_message = models.TextField(_("komunikat błędu"), blank=True)
    # Set when a worker claims the project; a result is stored only while it still matches,
    # so a job that lost its claim (requeued, regenerated) cannot overwrite newer work.
    claim_token = models.CharField(max_length=64, blank=True, editable=False)
    # The consultant's review: an approved card is locked against regeneration until reopened.
    review_status = models.CharField(
        _("przegląd"), max_length=20, choices=Review.choices, default=Review.DRAFT, db_index=True
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("zatwierdzono"), null=True, blank=True)
    # cards.quality: 0-100, recomputed on every change of the card; None before the first text.
    quality_score = models.PositiveSmallIntegerField(_("ocena jakości"), null=True, blank=True, db_index=True)
    # Failed and passed rules: [{"rule", "section", "ok", "message"}, ...] (see cards.quality).
    quality_checks = models.JSONField(_("lista kontrolna"), default=list, blank=True)
    queued_at = models.DateTimeField(_("dodano do kolejki"), null=True, blank=True)
    started_at = models.DateTimeField(_("rozpoczęto"), null=True, blank=True)
    generated_at = models.DateTimeField(_("wygenerowano"), null=True, blank=True)
    updated_at = models.DateTimeField(_("zmieniono"), auto_now=True)

    class Meta:
        ordering = ["batch", "row_number"]
        verbose_name = _("projekt")
        verbose_name_plural = _("projekty")
        constraints = [
            models.UniqueConstraint(fields=["batch", "row_number"], name="project_unique_row"),
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")), name="project_dates_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["status"]),
            # The dashboard's per-batch counts (projects, generated, approved) read this index
            # alone (an index-only scan of the user's batches) instead of scanning every
            # project in the database; PostgreSQL only, elsewhere a plain index on batch.
            models.Index(fields=["batch"], include=["id", "status", "review_status"], name="project_batch_counts"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project_detail", args=[self.pk])

    @property
    def is_in_progress(self) -> bool:
        return self.status in self.IN_PROGRESS

    @property
    def is_offline_draft(self) -> bool:
        return self.provider == "offline"
