"""Who did what to which batch, and from where: an append-only record for admins.

It holds identifiers, names and counts — never a section's text, hints, file contents or
passwords (audit.services.audit_record refuses long strings in `details`). The batch's id and
name are copied, not referenced, so the record of a deleted batch still says what it was.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        UPLOAD = "upload", _("import pliku")
        GENERATE = "generate", _("generowanie kart")
        REGENERATE_SECTION = "regenerate_section", _("ponowne generowanie sekcji")
        EDIT_SECTION = "edit_section", _("edycja sekcji")
        REVERT_SECTION = "revert_section", _("przywrócenie wersji sekcji")
        REVIEW = "review", _("przegląd karty")
        EXPORT_DOCX = "export_docx", _("eksport do Word")
        EXPORT_XLSX = "export_xlsx", _("eksport do Excel")
        DELETE = "delete", _("usunięcie partii")
        SHARE = "share", _("udostępnienie partii")
        UNSHARE = "unshare", _("cofnięcie udostępnienia")
        LOGIN = "login", _("logowanie")
        LOGOUT = "logout", _("wylogowanie")
        LOGIN_FAILED = "login_failed", _("nieudane logowanie")
        PASSWORD_CHANGE = "password_change", _("zmiana hasła")
        PASSWORD_RESET = "password_reset", _("reset hasła")

    created_at = models.DateTimeField(_("kiedy"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept when the account is deleted; for a failed login, the name that was tried.
    actor_username = models.CharField(_("użytkownik"), max_length=150, blank=True)
    action = models.CharField(_("czynność"), max_length=32, choices=Action.choices)
    # Plain ids, not foreign keys: the event outlives the batch it is about.
    batch_id = models.PositiveBigIntegerField(_("id partii"), null=True, blank=True, db_index=True)
    batch_name = models.CharField(_("partia"), max_length=255, blank=True)
    project_id = models.PositiveBigIntegerField(_("id projektu"), null=True, blank=True)
    section_key = models.CharField(_("sekcja"), max_length=40, blank=True)
    ip_address = models.GenericIPAddressField(_("adres IP"), null=True, blank=True)
    details = models.JSONField(_("szczegóły"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("zdarzenie")
        verbose_name_plural = _("dziennik zdarzeń")
        indexes = [models.Index(fields=["action", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '—'} {self.get_action_display()}"
