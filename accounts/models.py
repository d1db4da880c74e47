"""Consultancies (firms), who belongs to which, and batches shared with colleagues.

Sharing is per colleague (BatchShare), not a per-batch "whole firm" flag: consultancies
staff a client with a few people, and a flag would open every client's documents to
everyone in the firm, including people who must not see that client. A share only counts
while both people are in the same firm (batches.selectors checks it on every read), so a
consultant who leaves the firm loses access at once, without anyone cleaning up shares.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Firm(models.Model):
    name = models.CharField(_("nazwa"), max_length=255, unique=True)
    created_at = models.DateTimeField(_("utworzono"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("firma")
        verbose_name_plural = _("firmy")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A consultant's firm: one firm per user (remove the row when they leave)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(_("dołączył(a)"), auto_now_add=True)

    class Meta:
        ordering = ["firm", "user__username"]
        verbose_name = _("członkostwo w firmie")
        verbose_name_plural = _("członkostwa w firmach")

    def __str__(self) -> str:
        return f"{self.user} — {self.firm}"


class BatchShare(models.Model):
    """The batch's owner let this colleague collaborate on it (view, edit, generate, review, export)."""

    batch = models.ForeignKey("batches.Batch", on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_shares")
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shared_at = models.DateTimeField(_("udostępniono"), auto_now_add=True)

    class Meta:
        ordering = ["batch", "user__username"]
        verbose_name = _("udostępnienie partii")
        verbose_name_plural = _("udostępnienia partii")
        constraints = [models.UniqueConstraint(fields=["batch", "user"], name="batch_share_unique_user")]

    def __str__(self) -> str:
        return f"{self.batch} → {self.user}"
