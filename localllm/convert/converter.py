"""`convert()`: a Hugging Face checkpoint directory -> one GGUF file.

The file is streamed: every tensor's name, shape and type is planned first (from the checkpoint's
headers, no data read), the header, metadata and tensor infos are written, then each tensor is
read, transformed, encoded and written in turn. At most one tensor is in memory; the output
appears under its name only when complete (it is written to `OUT.part` and renamed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from ..errors import ConvertError
from ..gguf import GGMLType
from .archs import ArchSpec, Params, find_arch, hf_tensor_name
from .checkpoint import TensorSource, load_config, load_tensors
from .encode import encode, parse_outtype, tensor_nbytes, tensor_type
from .vocab import Vocabulary, add_space_prefix, load_vocabulary, write_vocabulary

ProgressFn = Callable[[int, int, str], None]   # (tensors written, total tensors, GGUF tensor name)
TOKEN_EMBD = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.TOKEN_EMBD] + ".weight"


@dataclass(frozen=True)
class PlannedTensor:
    name: str                          # GGUF name
    shape: tuple[int, ...]             # numpy (torch) order; GGUF stores it reversed
    ggml_type: GGMLType
    load: Callable[[], np.ndarray]     # float32 values, transformed for GGUF


def _loader(spec: ArchSpec, params: Params, src: TensorSource, rows: int | None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        data = src.read()
        if rows is not None:
            data = data[:rows]
        return spec.transform(params, src.name, data)
    return load


def _mapped_name(tensor_map: gguf.TensorNameMap, spec: ArchSpec, hf_name: str) -> str:
    name = tensor_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ConvertError(f"tensor {hf_name!r} has no {spec.name} GGUF name (an unexpected tensor for "
                           f"this architecture)")
    return name


def plan_tensors(spec: ArchSpec, params: Params, sources: dict[str, TensorSource], outtype: GGMLType,
                 n_tokens: int | None) -> list[PlannedTensor]:
    """Every GGUF tensor in write order: generated ones (rope_freqs) first, then the checkpoint's."""
    plan = [PlannedTensor(name, data.shape, tensor_type(name, data.shape, outtype), lambda data=data: data)
            for name, data in spec.extra_tensors(params)]
    n_layer = int(params.find("num_hidden_layers", "n_layers", "n_layer", "num_layers"))
    tensor_map = gguf.get_tensor_name_map(spec.model_arch, n_layer)
    for src in sources.values():
        hf_name = (spec.tensor_name or hf_tensor_name)(src.name)
        if hf_name is None:
            continue
        name = _mapped_name(tensor_map, spec, hf_name)
        shape, rows = src.shape, None
        if name == TOKEN_EMBD and spec.trim_embeddings and n_tokens and shape[0] > n_tokens:
            shape, rows = (n_tokens, *shape[1:]), n_tokens
        plan.append(PlannedTensor(name, shape, tensor_type(name, shape, outtype), _loader(spec, params, src, rows)))
    names = [t.name for t in plan]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConvertError(f"several checkpoint tensors map to the GGUF tensor(s) {', '.join(duplicates)}")
    if TOKEN_EMBD not in names:
        raise ConvertError("the checkpoint has no token embedding (model.embed_tokens.weight)")
    return plan


def _n_vocab(params: Params, plan: list[PlannedTensor]) -> int:
    embd = next(t for t in plan if t.name == TOKEN_EMBD)
    return int(params.find("vocab_size", default=embd.shape[0]))


def write_metadata(writer: gguf.GGUFWriter, spec: ArchSpec, params: Params, vocab: Vocabulary,
                   file_type: gguf.LlamaFileType, hf_dir: Path, n_vocab: int) -> None:
    """general.*, the architecture's keys, and the vocabulary (tensor infos must be added first:
    the size label counts their parameters)."""
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(hf_dir.resolve().name)
    total, shared, expert, n_expert = writer.get_total_parameter_count()
    if total > 0:
        writer.add_size_label(gguf.size_label(total, shared, expert, n_expert))
    spec.write_params(params, writer)
    if spec.write_folder is not None:
        spec.write_folder(hf_dir, writer)
    writer.add_file_type(int(file_type))
    if vocab.model == "none" and not spec.writes_vocab_size:
        writer.add_vocab_size(n_vocab)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if spec.add_space_prefix is not None:
        vocab.add_space_prefix = spec.add_space_prefix
    elif spec.name == "llama":
        vocab.add_space_prefix = add_space_prefix(hf_dir)
    write_vocabulary(writer, vocab, hf_dir)


def _write_file(writer: gguf.GGUFWriter, plan: list[PlannedTensor], out_path: Path,
                progress: ProgressFn | None) -> None:
    part = out_path.with_name(out_path.name + ".part")
    try:
        writer.write_header_to_file(path=part)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, t in enumerate(plan):
            writer.write_tensor_data(encode(t.load(), t.ggml_type))
            if progress is not None:
                progress(i + 1, len(plan), t.name)
        writer.close()
        part.replace(out_path)
    except BaseException:
        writer.close()
        part.unlink(missing_ok=True)
        raise


def convert(hf_dir: str | Path, out_path: str | Path, outtype: str = "f16",
            progress: ProgressFn | None = None) -> Path:
    """Convert the Hugging Face checkpoint in `hf_dir` (config.json, *.safetensors or
    pytorch_model.bin, tokenizer files if any) to the GGUF file `out_path`.

    outtype: "f32", "f16" (default), "bf16" or "q8_0" for the 2-D weights; 1-D tensors and norms
    stay F32. progress(done, total, name) is called after each tensor is written.
    Raises ConvertError (an InputError) for a missing or malformed file or an unsupported
    architecture, UsageError for a bad outtype. Returns the output path.
    """
    hf_dir, out_path = Path(hf_dir), Path(out_path)
    outtype_ggml, file_type = parse_outtype(outtype)
    if not hf_dir.is_dir():
        raise ConvertError(f"{hf_dir}: not a directory (expected a Hugging Face checkpoint directory)")
    if not out_path.parent.is_dir():
        raise ConvertError(f"{out_path}: the output directory {out_path.parent} does not exist")
    config = load_config(hf_dir)
    spec, params = find_arch(config), Params(config)
    sources = load_tensors(hf_dir)
    vocab = load_vocabulary(hf_dir, spec.name, spec.vocab_kinds, config.get("vocab_size"))
    plan = plan_tensors(spec, params, sources, outtype_ggml, len(vocab.tokens) or None)
    writer = gguf.GGUFWriter(None, spec.name)
    for t in plan:
        writer.add_tensor_info(t.name, t.shape, np.dtype(np.float32), tensor_nbytes(t.shape, t.ggml_type),
                               raw_dtype=gguf.GGMLQuantizationType(int(t.ggml_type)))
    write_metadata(writer, spec, params, vocab, file_type, hf_dir, _n_vocab(params, plan))
    _write_file(writer, plan, out_path, progress)
    return out_path
