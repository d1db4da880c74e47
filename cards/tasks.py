"""Dramatiq actors for cards: thin wrappers that take ids and call services."""

import dramatiq
from dramatiq.middleware import TimeLimitExceeded

from batches.models import Project
from cards import services

GENERATION_TIME_LIMIT_MS = 15 * 60 * 1000


@dramatiq.actor(queue_name="generation", max_retries=0, time_limit=GENERATION_TIME_LIMIT_MS)
def generate_project(project_id: int) -> None:
    """Generate the card of one project."""
    try:
        services.project_generate(project_id=project_id)
    except TimeLimitExceeded:
        services.project_mark(
            project_id=project_id,
            status=Project.Status.GENERATION_TIMEOUT,
            message="Generowanie trwało dłużej niż 15 minut i zostało przerwane. Spróbuj ponownie.",
        )
    except Exception as exc:
        services.project_mark(
            project_id=project_id,
            status=Project.Status.FAILED,
            message=f"Nieoczekiwany błąd generowania ({type(exc).__name__}). Spróbuj ponownie.",
        )
        raise
