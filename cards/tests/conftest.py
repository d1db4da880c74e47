"""Fixtures of the cards tests: a batch of two projects, the first one with its card."""

import pytest

from batches.models import Batch, Project
from cards.tests.factories import generate_now


@pytest.fixture
def batch(owner, make_batch) -> Batch:
    return make_batch(owner, projects=2)


@pytest.fixture
def project(batch) -> Project:
    return generate_now(batch.projects.order_by("row_number").first())
