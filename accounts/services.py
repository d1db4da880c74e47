"""Sharing a batch with colleagues of the owner's firm."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from accounts.models import BatchShare, Membership
from audit.models import AuditEvent
from audit.services import audit_record
from batches.models import Batch


class ShareRefused(Exception):
    """The share or unshare does not apply (another firm, oneself, not shared); the message is Polish."""


NOT_A_COLLEAGUE = (
    "Tej osoby nie ma w Twojej firmie — partię można udostępnić tylko współpracownikom z tej samej firmy. "
    "Odśwież stronę, aby zobaczyć aktualną listę."
)


def _owner_firm_id(owner: User) -> int:
    firm_id = Membership.objects.filter(user=owner).values_list("firm_id", flat=True).first()
    if firm_id is None:
        raise ShareRefused(
            "Nie należysz do żadnej firmy, więc nie możesz udostępniać partii. "
            "Poproś administratora o przypisanie Cię do firmy."
        )
    return firm_id


def batch_share(*, batch: Batch, owner: User, user_id: int) -> BatchShare:
    """Let a colleague of the owner's firm collaborate on the batch; raises ShareRefused."""
    if batch.owner_id != owner.pk:
        # Views fetch the batch with batch_for_owner; this is the service's own guard.
        raise ShareRefused("Tylko właściciel partii może ją udostępniać.")
    if user_id == owner.pk:
        raise ShareRefused("To Twoja partia — masz do niej dostęp. Wybierz współpracownika z listy.")
    firm_id = _owner_firm_id(owner)
    colleague = User.objects.filter(pk=user_id, is_active=True, membership__firm_id=firm_id).first()
    if colleague is None:
        # The same answer for an unknown id and for someone of another firm: the form does
        # not tell who exists outside the firm.
        raise ShareRefused(NOT_A_COLLEAGUE)
    with transaction.atomic():
        share = BatchShare.objects.filter(batch=batch, user=colleague).first()
        if share is not None:
            raise ShareRefused(f"Partia jest już udostępniona: {display_name(colleague)}.")
        try:
            with transaction.atomic():
                share = BatchShare.objects.create(batch=batch, user=colleague, shared_by=owner)
        except IntegrityError:  # a double click: the other request made it
            raise ShareRefused(f"Partia jest już udostępniona: {display_name(colleague)}.") from None
        audit_record(actor=owner, action=AuditEvent.Action.SHARE, batch=batch, user_id=colleague.pk)
    return share


def batch_unshare(*, batch: Batch, owner: User, user_id: int) -> None:
    """Take the colleague's access to the batch away; raises ShareRefused when they had none."""
    if batch.owner_id != owner.pk:
        raise ShareRefused("Tylko właściciel partii może cofać udostępnienie.")
    if user_id == owner.pk:
        raise ShareRefused("Nie możesz odebrać dostępu sobie — to Twoja partia.")
    with transaction.atomic():
        deleted, _ = BatchShare.objects.filter(batch=batch, user_id=user_id).delete()
        if not deleted:
            raise ShareRefused("Ta osoba nie ma dostępu do tej partii — nie ma czego cofać. Odśwież stronę.")
        audit_record(actor=owner, action=AuditEvent.Action.UNSHARE, batch=batch, user_id=user_id)


def display_name(user: User) -> str:
    return user.get_full_name() or user.get_username()
