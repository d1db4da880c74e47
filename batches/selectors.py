"""Reads that check ownership: a consultant only ever gets their own batches and projects."""

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404

from batches.models import Batch, Project


def batch_for_user(*, user: User, pk: int) -> Batch:
    """The user's own batch; anyone else's is a 404, never a 403."""
    return get_object_or_404(Batch, pk=pk, owner=user)


def project_for_user(*, user: User, pk: int) -> Project:
    """A project of one of the user's own batches, else 404."""
    return get_object_or_404(Project.objects.select_related("batch"), pk=pk, batch__owner=user)


def batches_for_user(*, user: User):
    """The batches a user may see (own; firms widens this to those shared with them), newest first."""
    return Batch.objects.filter(owner=user).order_by("-uploaded_at", "-pk")
