"""Reads that check access: a consultant gets their own batches and those a colleague of
the same firm shared with them; everyone else's are a 404, never a 403.

Two kinds of getters:
- `*_for_user`: collaborators — the owner and colleagues the batch is shared with (view,
  edit, generate, regenerate, review, export);
- `*_for_owner`: the owner alone (share, unshare, delete).

A share counts only while the colleague and the owner are members of the same firm: a
consultant who leaves the firm (or moves to another) loses access with no clean-up.
"""

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import BatchShare, Membership
from batches.models import Batch, Project


def visible_q(user: User, path: str = "") -> Q:
    """Batches `user` may collaborate on, as a filter on a queryset whose batch is at `path`
    ("" for Batch, "batch__" for Project, "project__batch__" for Section).

    An Exists subquery, not a join, so that a batch shared with many people is one row.
    """
    if not user.is_authenticated:
        return Q(pk__in=[])
    shared = BatchShare.objects.filter(
        batch=OuterRef(f"{path}pk"),
        user=user,
        user__membership__firm_id=OuterRef(f"{path}owner__membership__firm_id"),
    )
    return Q(**{f"{path}owner": user}) | Q(Exists(shared))


def batches_for_user(*, user: User) -> QuerySet[Batch]:
    """Every batch the user may collaborate on (own and shared)."""
    return Batch.objects.filter(visible_q(user)).order_by("-uploaded_at", "-pk")


def batches_shared_with(*, user: User) -> QuerySet[Batch]:
    """Batches colleagues of the user's firm shared with them (not their own).

    Driven from the user's shares (an index on the share's user), not from every batch:
    `visible_q` here made PostgreSQL test the share of each of the other users' batches.
    """
    if not user.is_authenticated:
        return Batch.objects.none()
    firm = Membership.objects.filter(user=user).values("firm_id")[:1]
    # (batch, user) is unique in BatchShare, so the join keeps one row per batch.
    return Batch.objects.filter(shares__user=user, owner__membership__firm_id=Subquery(firm)).exclude(owner=user)


def batch_for_user(*, user: User, pk: int) -> Batch:
    """A batch the user owns or that was shared with them; anyone else's is a 404, never a 403."""
    return get_object_or_404(Batch.objects.select_related("owner").filter(visible_q(user)), pk=pk)


def project_for_user(*, user: User, pk: int) -> Project:
    """A project of a batch the user owns or that was shared with them, else 404."""
    return get_object_or_404(Project.objects.select_related("batch__owner").filter(visible_q(user, "batch__")), pk=pk)


def section_for_user(*, user: User, project_pk: int, key: str):
    """A section of a project the user may collaborate on; an unknown key or a missing section is a 404."""
    from cards.models import Section
    from cards.sections import SECTION_KEYS

    if key not in SECTION_KEYS:
        raise Http404("Unknown section")
    return get_object_or_404(
        Section.objects.select_related("project__batch__owner", "updated_by").filter(
            visible_q(user, "project__batch__")
        ),
        project__pk=project_pk,
        key=key,
    )


def batch_for_owner(*, user: User, pk: int) -> Batch:
    """The user's own batch (for sharing and deleting); a shared colleague gets a 404 too."""
    return get_object_or_404(Batch, pk=pk, owner=user)


def user_is_owner(*, user: User, batch: Batch) -> bool:
    return batch.owner_id == user.pk


def firm_colleagues(*, user: User) -> QuerySet[User]:
    """The other members of the user's firm (none when the user belongs to no firm)."""
    firm_id = Membership.objects.filter(user=user).values_list("firm_id", flat=True).first()
    if firm_id is None:
        return User.objects.none()
    return (
        User.objects.filter(membership__firm_id=firm_id, is_active=True)
        .exclude(pk=user.pk)
        .order_by("last_name", "first_name", "username")
    )


def batch_shared_users(*, batch: Batch) -> QuerySet[User]:
    """Colleagues the batch is shared with now (shares to people who left the owner's firm do not count)."""
    return User.objects.filter(
        batch_shares__batch=batch, membership__firm__memberships__user_id=batch.owner_id
    ).order_by("last_name", "first_name", "username")
