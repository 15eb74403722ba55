"""The output layer's resident copy (localllm/backend/resident.py): used when it is large and the
file is mapped, and it changes no result."""

from __future__ import annotations

import numpy as np
import pytest

from localllm.backend import resident
from localllm.engine import load_model

pytestmark = pytest.mark.slow


def last_logits(path: str, **kwargs) -> tuple[np.ndarray, int]:
    with load_model(path, n_ctx=64, n_threads=2, **kwargs) as lm:
        logits = lm.eval_tokens(np.arange(100, 110))[-1].copy()
        return logits, len(lm.model._resident)


def test_the_copy_gives_the_mapped_weights_bits(default_model_path, monkeypatch):
    copied, n_copies = last_logits(default_model_path)
    assert n_copies == 1  # the tied 262144 x 640 Q8_0 output layer: 178 MB
    monkeypatch.setattr(resident, "MIN_BYTES", 1 << 62)
    mapped, n_copies = last_logits(default_model_path)
    assert n_copies == 0
    np.testing.assert_array_equal(copied.view(np.uint32), mapped.view(np.uint32))


def test_no_copy_without_a_map(default_model_path):
    _, n_copies = last_logits(default_model_path, use_mmap=False)
    assert n_copies == 0
