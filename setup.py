"""Build hook for the native core: pyproject.toml holds the metadata, this file only tells
setuptools which cffi variant modules to compile on this machine (see native/build.py), and
builds the optional CUDA backend after them (see native/cuda/build.py)."""

import importlib.util
import os

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_build = _load("localllm_native_build", "native/build.py")
_cuda = _load("localllm_cuda_build", "native/cuda/build.py")


class BuildExtWithCuda(build_ext):
    def run(self):
        super().run()
        in_source = self.inplace or getattr(self, "editable_mode", False)
        out_dir = os.path.join(ROOT, "localllm") if in_source else os.path.join(self.build_lib, "localllm")
        os.makedirs(out_dir, exist_ok=True)
        _cuda.build_if_wanted(out_dir)


setup(cffi_modules=[f"native/build.py:ffi_{level}" for level in _build.levels_for_machine()],
      cmdclass={"build_ext": BuildExtWithCuda})
