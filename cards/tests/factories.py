"""Shared helpers of the cards tests."""

from batches.models import Project
from cards import services

HX = {"HTTP_HX_REQUEST": "true"}
OTHERS = ["colleague", "outsider"]


def generate_now(project: Project, provider: str = "offline") -> Project:
    """Run the real generation service synchronously (the worker path has its own tests)."""
    Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider=provider)
    services.project_generate(project_id=project.pk)
    project.refresh_from_db()
    return project
