"""Shared by every test package: no test leaks environment variables into the next (a LOCAL_RANK or WORLD_SIZE
left behind by an in-process launcher makes later subprocesses think they are distributed)."""

import os

import pytest


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)
