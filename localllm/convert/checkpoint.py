"""Reading a Hugging Face checkpoint directory: `config.json` and the weights.

Weights come from `model*.safetensors` (parsed here with numpy: an 8-byte little-endian header
length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the raw data,
offsets relative to the end of the header), or, when there are none, from `pytorch_model*.bin`
(through torch, imported only then). A `*.index.json` next to the shards names every file the
checkpoint needs; a missing shard is reported by name. Tensors are read lazily, one at a time,
as float32 numpy arrays, so converting a model never holds more than one tensor in memory.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConvertError

SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
                      "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8}
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorSource:
    """One checkpoint tensor: its shape [torch order] and how to read it as float32."""

    name: str
    shape: tuple[int, ...]
    read: Callable[[], np.ndarray]


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`; ConvertError naming the file when it is missing or malformed."""
    if not path.is_file():
        raise ConvertError(f"{path.parent}: {path.name} is missing ({what})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(f"{path}: cannot read {what}: {e}") from None
    if not isinstance(value, dict):
        raise ConvertError(f"{path}: {what} is not a JSON object")
    return value


def load_config(hf_dir: Path) -> dict[str, Any]:
    """config.json, with a multimodal model's `text_config` merged into the top level (as
    llama.cpp's converter does), so a text model and its multimodal wrapper read alike."""
    config = read_json(hf_dir / "config.json", "the model configuration")
    text = config.get("text_config")
    if isinstance(text, dict):
        config = {**config, **text}
    return config


# -- safetensors -------------------------------------------------------------------------------
def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ConvertError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_HEADER_BYTES):
            raise ConvertError(f"{path}: safetensors header length {n} is larger than the file allows")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConvertError(f"{path}: safetensors header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{path}: safetensors header is not a JSON object")
    return header, 8 + n


def _safetensors_entry(path: Path, name: str, info: Any, base: int, size: int) -> tuple[type, tuple, int, int]:
    try:
        dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
    except (TypeError, KeyError, ValueError):
        raise ConvertError(f"{path}: malformed safetensors entry for tensor {name!r}") from None
    if dtype not in SAFETENSORS_DTYPES:
        raise ConvertError(f"{path}: tensor {name!r} has dtype {dtype}; only float and integer tensors convert")
    np_dtype = SAFETENSORS_DTYPES[dtype]
    n = int(np.prod(shape, dtype=np.int64))
    if not 0 <= begin <= end or base + end > size or end - begin != n * np.dtype(np_dtype).itemsize:
        raise ConvertError(f"{path}: tensor {name!r} has data offsets [{begin}, {end}] that do not fit "
                           f"its shape {list(shape)} and dtype {dtype} in the file")
    return np_dtype, shape, base + begin, n


def safetensors_sources(path: Path) -> list[TensorSource]:
    """The tensors of one safetensors file, memory-mapped and read on demand."""
    header, base = _safetensors_header(path)
    size = path.stat().st_size
    mm = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    sources = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        np_dtype, shape, offset, n = _safetensors_entry(path, name, info, base, size)

        def read(offset=offset, n=n, np_dtype=np_dtype, shape=shape) -> np.ndarray:
            raw = np.frombuffer(mm, dtype=np_dtype, count=n, offset=offset)
            values = _bf16_to_f32(raw) if np_dtype is np.uint16 else raw.astype(np.float32)
            return values.reshape(shape)

        sources.append(TensorSource(name, shape, read))
    return sources


# -- pytorch_model.bin ---------------------------------------------------------------------------
def torch_sources(path: Path) -> list[TensorSource]:
    """The tensors of one pytorch_model*.bin (needs torch; loaded with weights_only=True)."""
    try:
        import torch
    except ImportError:
        raise ConvertError(f"{path.name}: reading pytorch_model.bin needs torch (pip install torch); "
                           "a checkpoint in safetensors format needs nothing more") from None
    try:
        try:
            state = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError:  # the legacy (pre-zip) format cannot be memory-mapped
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a corrupt or non-weights file
        raise ConvertError(f"{path}: cannot load the PyTorch weights: {e}") from None
    if not isinstance(state, dict):
        raise ConvertError(f"{path}: holds a {type(state).__name__}, not a dictionary of weights")
    return [TensorSource(name, tuple(t.shape), lambda t=t: t.to(torch.float32).numpy())
            for name, t in state.items() if isinstance(t, torch.Tensor)]


# -- the whole checkpoint --------------------------------------------------------------------------
def _shard_files(hf_dir: Path) -> tuple[list[Path], bool]:
    """The weight files to read, and whether they are safetensors."""
    for prefix, suffix, safetensors in (("model", ".safetensors", True), ("pytorch_model", ".bin", False)):
        index = hf_dir / f"{'model.safetensors' if safetensors else 'pytorch_model.bin'}.index.json"
        if index.is_file():
            weight_map = read_json(index, "the weight index").get("weight_map")
            if not isinstance(weight_map, dict):
                raise ConvertError(f"{index}: has no 'weight_map' object")
            files = [hf_dir / f for f in sorted(set(weight_map.values()))]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise ConvertError(f"{hf_dir}: weight files listed in {index.name} are missing: {', '.join(missing)}")
            return files, safetensors
        files = sorted(p for p in hf_dir.glob(f"{prefix}*{suffix}") if p.is_file())
        if files:
            return files, safetensors
    raise ConvertError(f"{hf_dir}: no model weights found (expected model.safetensors, "
                       "model-*-of-*.safetensors or pytorch_model.bin)")


def load_tensors(hf_dir: Path) -> dict[str, TensorSource]:
    """Every tensor of the checkpoint by its Hugging Face name, in file order."""
    files, safetensors = _shard_files(hf_dir)
    sources: dict[str, TensorSource] = {}
    for path in files:
        for src in (safetensors_sources(path) if safetensors else torch_sources(path)):
            if src.name in sources:
                raise ConvertError(f"{hf_dir}: tensor {src.name!r} appears in more than one weight file")
            sources[src.name] = src
    if not sources:
        raise ConvertError(f"{hf_dir}: the weight files hold no tensors")
    return sources
