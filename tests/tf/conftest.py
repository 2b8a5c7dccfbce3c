"""TensorFlow test setup: quiet logs before TensorFlow is imported, and seeded Keras."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    keras.utils.set_random_seed(1234)
