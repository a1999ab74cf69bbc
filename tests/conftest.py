"""Shared test configuration: GPU marker, derandomized hypothesis profile."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from textgen import make_text

# Derandomized by default so a red run reproduces; HYPOTHESIS_PROFILE=explore for random search.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, max_examples=200, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def tiny_corpus(tmp_path):
    """Path to a generated ~20 KB UTF-8 text file."""
    path = tmp_path / "tiny.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path
