"""Fixtures of the sharing tests: the owner's batch, its first card generated, shared or not."""

import pytest

from batches.models import Batch, Project
from cards.tests.factories import generate_now


@pytest.fixture
def batch(owner, make_batch) -> Batch:
    return make_batch(owner, projects=2)


@pytest.fixture
def project(batch) -> Project:
    return generate_now(batch.projects.order_by("row_number").first())


@pytest.fixture
def shared(batch, colleague, share):
    """The batch shared with the colleague of the same firm."""
    return share(batch, colleague)
