"""Build hook for the native core: pyproject.toml holds the metadata, this file only tells
setuptools which cffi variant modules to compile on this machine (see native/build.py)."""

import importlib.util
import os

from setuptools import setup

_spec = importlib.util.spec_from_file_location(
    "localllm_native_build", os.path.join(os.path.dirname(os.path.abspath(__file__)), "native", "build.py")
)
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)

setup(cffi_modules=[f"native/build.py:ffi_{level}" for level in _build.levels_for_machine()])
